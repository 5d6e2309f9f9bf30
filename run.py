"""Train a STAMP-style detector: prediction + reconstruction branches, adversarially coupled.

    python run.py --data SMD --entity machine-1-2 --pred_model gat --recon_model ae
    accelerate launch --num_processes 2 run.py ...     (data-parallel; on CPU add --cpu)

The best checkpoint (with its config) goes to expe/pth/, the log to expe/log/.
"""
from __future__ import annotations

import argparse

import torch
from accelerate import Accelerator

from lib.runfiles import run_paths
from lib.config import Config, add_config_flags, overrides_from_args
from lib.data import DATASETS, get_spec, list_entities, prepare
from lib.errors import UserError, cli_main
from lib.runfiles import check_writable, run_lock
from lib.train.trainer import Trainer
from lib.utils import pick_device, quiet_third_party, seed_everything, setup_logging
from model.imputers import llm4imp_filler
from model.registry import build_models


def parse_config(description: str, argv=None) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=description)
    add_config_flags(parser)
    parser.add_argument("--list_data", action="store_true", help="list the datasets and exit")
    args = parser.parse_args(argv)
    cfg = Config(**overrides_from_args(args))
    cfg.validate()
    return cfg, args


def print_datasets() -> None:
    get_spec("synthetic")  # fills the registry
    for name, spec in sorted(DATASETS.items()):
        print(f"{name:10s} {spec.description}")


def entities_of(cfg: Config) -> list[str]:
    """`--entity all` expands to every entity present; otherwise the one given."""
    return list_entities(cfg.data, cfg.resolved_data_root()) if cfg.entity == "all" else [cfg.entity]


def make_accelerator(cfg: Config) -> Accelerator:
    """One process, or one of those `accelerate launch` started; on the device `--device` names."""
    return Accelerator(cpu=pick_device(cfg.device).type == "cpu")


def train_one(cfg: Config, acc: Accelerator) -> dict:
    """Train one entity, holding the run's lock (the main process writes every file)."""
    paths = run_paths(cfg)
    if not acc.is_main_process:
        return _train_one(cfg, acc, paths)
    check_writable(p.parent for p in paths.values())
    with run_lock(paths["lock"]):
        return _train_one(cfg, acc, paths)


def _train_one(cfg: Config, acc: Accelerator, paths: dict) -> dict:
    # Only the main process writes the log file and INFO lines; the others report warnings.
    log = setup_logging(paths["log"] if acc.is_main_process else None,
                        console_level="INFO" if acc.is_main_process else "WARNING")
    seed_everything(cfg.seed)
    device = acc.device
    # The main process trains the LLM4IMP imputer; the others wait, then load it.
    shared_imputer = acc.num_processes > 1 and cfg.impute == "llm4imp"
    if shared_imputer and not acc.is_main_process:
        acc.wait_for_everyone()
    data = prepare(cfg, learned_filler=llm4imp_filler(cfg, paths["imputer"], fit=acc.is_main_process))
    if shared_imputer and acc.is_main_process:
        acc.wait_for_everyone()
    log.info("training %s on %s", cfg.model_name, cfg.data_tag)
    log.debug("config %s", cfg.to_json())
    log.info("%s: %d features; windows: train %d, val %d, test %d (L=%d, H=%d)", data.source, data.n_features,
             data.train.shape[0] - cfg.window_size + 1, data.val.shape[0] - cfg.window_size + 1,
             data.test.shape[0] - cfg.window_size + 1, cfg.window_size, cfg.n_pred)
    pred, recon = build_models(cfg, data.n_features, device)
    n_params = {name: sum(p.numel() for p in m.parameters() if p.requires_grad) for name, m in (("pred", pred), ("recon", recon))}
    log.info("trainable parameters: pred %d, recon %d; device %s; %d process(es)", n_params["pred"],
             n_params["recon"], device, acc.num_processes)
    state = Trainer(cfg, pred, recon, data, device, paths, accelerator=acc).train()
    return {"entity": cfg.entity, "best_epoch": state.best_epoch, "best_val": state.best_val,
            "epochs": state.epoch, "seconds_per_epoch": [h["train_seconds"] for h in state.history]}


@cli_main
def main() -> None:
    cfg, args = parse_config(__doc__.splitlines()[0])
    if args.list_data:
        print_datasets()
        return
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    quiet_third_party()
    get_spec(cfg.data)
    acc = make_accelerator(cfg)
    for entity in entities_of(cfg):
        summary = train_one(cfg.replace(entity=entity), acc)
        if summary["best_epoch"] == 0 and cfg.epochs > 0:
            raise UserError("training finished without a finite validation loss; check the data")


if __name__ == "__main__":
    main()
