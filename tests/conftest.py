"""Shared fixtures: tiny configs and the optional real datasets."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from lib.config import Config

REPO = Path(__file__).resolve().parents[1]


def shared_datasets() -> Path | None:
    """The real dataset copies beside the repo (`../shared/datasets`), or None."""
    root = Path(os.environ.get("LLM_TSAD_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))
    return root if root.is_dir() else None


@pytest.fixture
def real_root() -> Path:
    root = shared_datasets()
    if root is None:
        pytest.skip("real datasets not present beside the repo")
    return root


def tiny_config(tmp_path: Path, **changes) -> Config:
    """A small, fast configuration on 3-feature synthetic data."""
    base = dict(data="synthetic", syn_features=3, syn_train_len=400, syn_test_len=300, window_size=8, n_pred=2,
                d_model=8, em_dim=4, top_k=2, layer_num=1, embed_size=16, num_heads=2, ffwd_size=16,
                mamba_d_model=8, mamba_layers=1, mamba_d_state=4, mamba_latent=4, batch_size=32, epochs=2,
                patience=0, expe_dir=str(Path(tmp_path) / "expe"), search_steps=100, llm_model="tiny", llm_layers=2)
    base.update(changes)
    return Config(**base)


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> Config:
    return tiny_config(tmp_path)


def stopped_at_call(monkeypatch, module, name: str, at: int, run) -> None:
    """`run()` with `module.name` raising KeyboardInterrupt at its `at`-th call, as a killed process
    stops; `module.name` is itself again afterwards."""
    real, calls = getattr(module, name), []

    def stopping(*args):
        calls.append(1)
        if len(calls) == at:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(module, name, stopping)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(module, name, real)
