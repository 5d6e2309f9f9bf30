"""The imputer registry for impute.py: name -> a builder of an object with PyPOTS's imputer API
(`fit(train_set, val_set)`, `impute(test_set)`). Adding one is one decorated function.

- `mean`, `locf`, `linear`: PyPOTS's Mean, LOCF and Lerp (no training);
- `saits`: PyPOTS's SAITS;
- `timellm`: PyPOTS's TimeLLM, whose backbone loads fixed hub ids and takes no local path;
- `llm4imp`: ours (`model/llm4imp`), on the bundled LLM by default.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from lib.data.gaps import LearnedFiller
from lib.data.imputation import evenly_spaced, standard_stats, to_windows
from lib.errors import UserError

Builder = Callable[[Any, int], Any]     # (config, n_features) -> imputer
IMPUTERS: dict[str, Builder] = {}
TRAINED = {"saits", "timellm", "llm4imp"}


def register_imputer(name: str) -> Callable[[Builder], Builder]:
    def add(fn: Builder) -> Builder:
        IMPUTERS[name] = fn
        return fn
    return add


def build_imputer(cfg, n_features: int):
    if cfg.imputer not in IMPUTERS:
        raise UserError(f"unknown imputer {cfg.imputer!r}; known: {', '.join(IMPUTERS)}")
    return IMPUTERS[cfg.imputer](cfg, n_features)


def training_args(cfg) -> dict:
    """What every trained PyPOTS model takes from the config."""
    # PyPOTS wants patience < epochs; with no room for it, early stopping is off
    patience = cfg.patience if 0 < cfg.patience < cfg.epochs else None
    return dict(batch_size=cfg.batch_size, epochs=cfg.epochs, patience=patience,
                device=None if cfg.device == "auto" else cfg.device, verbose=False)


@register_imputer("mean")
def _mean(cfg, n_features: int):
    from pypots.imputation import Mean

    return Mean()


@register_imputer("locf")
def _locf(cfg, n_features: int):
    from pypots.imputation import LOCF

    return LOCF()


@register_imputer("linear")
def _linear(cfg, n_features: int):
    from pypots.imputation import Lerp

    return Lerp()


@register_imputer("saits")
def _saits(cfg, n_features: int):
    from pypots.imputation import SAITS

    # TSI-Bench's SAITS size for ETT: 2 layers, d_model 256, 4 heads of 64, d_ffn 128
    return SAITS(cfg.imp_steps, n_features, n_layers=2, d_model=256, n_heads=4, d_k=64, d_v=64, d_ffn=128,
                 dropout=0.1, **training_args(cfg))


@register_imputer("timellm")
def _timellm(cfg, n_features: int):
    from pypots.imputation import TimeLLM

    kind = {"llama": "LLaMA", "gpt2": "GPT2", "bert": "BERT"}[cfg.llm_backend]
    try:
        return TimeLLM(cfg.imp_steps, n_features, n_layers=cfg.llm_layers or 6, llm_model_type=kind,
                       patch_size=cfg.llm_patch_len, patch_stride=cfg.llm_stride,
                       d_llm={"LLaMA": 4096, "GPT2": 768, "BERT": 768}[kind], d_model=cfg.llm_d_model,
                       d_ffn=cfg.llm_d_ff, n_heads=cfg.llm_n_heads, dropout=cfg.dropout,
                       domain_prompt_content="", **training_args(cfg))
    except OSError as exc:
        raise UserError(f"PyPOTS's TimeLLM loads a fixed hub model for {kind} and takes no local path, and no hub "
                        f"was reachable ({str(exc).splitlines()[0][:80]}); --model llm4imp runs on the bundled "
                        f"LLM") from None


@register_imputer("llm4imp")
def _llm4imp(cfg, n_features: int):
    from model.llm4imp.model import LLM4IMP

    return LLM4IMP(cfg.imp_steps, n_features, patch_size=cfg.llm_patch_len, patch_stride=cfg.llm_stride,
                   d_model=cfg.llm_d_model, d_ffn=cfg.llm_d_ff, n_heads=cfg.llm_n_heads, dropout=cfg.dropout,
                   num_tokens=cfg.llm_num_tokens,
                   prompt_mode="stats" if cfg.llm_prompt_mode == "stats_short" else cfg.llm_prompt_mode,
                   data=cfg.data, llm_backend=cfg.llm_backend, llm_model=cfg.llm_model, llm_layers=cfg.llm_layers,
                   llm_pretrained=cfg.llm_pretrained, llm_dtype=cfg.llm_dtype, llm_skip_layers=cfg.llm_skip_layers,
                   prefix_cache=cfg.llm_prefix_cache, **training_args(cfg))


def llm4imp_filler(cfg, path: Path, fit: bool) -> LearnedFiller:
    """`--impute llm4imp` for `lib/data/gaps.py`: LLM4IMP trained (`fit`) or loaded from `path`."""
    return lambda train: _llm4imp_fill(train, cfg, path, fit)


def _llm4imp_fill(train: np.ndarray, cfg, path: Path, fit: bool) -> Callable[[np.ndarray], np.ndarray]:
    """Train (`fit`, on at most `--max_train_windows` windows) and save, or load, LLM4IMP on the
    training series `[T, N]`; a function that fills a series' gaps with it, window by window, in
    the original units. Windows without a gap are not sent to the model: it would change nothing."""
    mean, std = standard_stats(train)
    imputer = IMPUTERS["llm4imp"](cfg, train.shape[1])
    if fit:
        windows = to_windows(((train - mean) / std).astype(np.float32), cfg.imp_steps)
        imputer.fit({"X": evenly_spaced(windows, cfg.max_train_windows)})
        path.parent.mkdir(parents=True, exist_ok=True)
        imputer.save(str(path), overwrite=True)
    elif not path.is_file():
        raise UserError(f"no LLM4IMP imputer at {path}: train the detector with --impute llm4imp first")
    else:
        imputer.load(str(path))

    def fill(series: np.ndarray) -> np.ndarray:
        T, n = series.shape[0], cfg.imp_steps
        if T < n:
            raise UserError(f"a series of {T} steps is shorter than --imp_steps {n}")
        starts = list(range(0, T - n + 1, n))
        if starts[-1] + n < T:
            starts.append(T - n)   # the tail, overlapping the window before
        starts = [s for s in starts if np.isnan(series[s:s + n]).any()]
        out = series.copy()
        if not starts:
            return out
        windows = np.stack([series[s:s + n] for s in starts])
        filled = np.asarray(imputer.impute({"X": ((windows - mean) / std).astype(np.float32)})) * std + mean
        for s, w in zip(starts, filled):
            part = out[s:s + n]
            gaps = np.isnan(part)
            part[gaps] = w[gaps]
        return out

    return fill
