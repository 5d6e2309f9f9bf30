"""Model registries: `PRED`, `RECON` and `FORECASTERS` map a name to a class, `REASONERS` a
name to a builder.

Every prediction model maps a context `[B, L-H, N, C]` to a forecast
`[B, H, N]`; every reconstruction model maps a window `[B, L, N]` to its
reconstruction `[B, L, N]`. Both are built as `cls(cfg, n_features)`.
Every long-horizon forecaster (forecast.py) maps one channel's lookback `[B, seq_len]`
to its forecast `[B, pred_len]`, and is built as `cls(cfg)`. Every reasoner (reason.py)
answers questions about series `[T, N]`, and is built as `builder(cfg, n_channels)`.
Adding a model means adding one decorated class (or builder); nothing else changes.
"""
from __future__ import annotations

from typing import Any, Callable

import torch.nn as nn

from lib.errors import UserError

PRED: dict[str, type[nn.Module]] = {}
RECON: dict[str, type[nn.Module]] = {}
FORECASTERS: dict[str, type[nn.Module]] = {}
# reason.py's models and controls: name -> a builder (cfg, n_channels) -> a reasoner
REASONERS: dict[str, Callable[[Any, int], Any]] = {}


def _register(table: dict[str, Any], name: str) -> Callable[[Any], Any]:
    def deco(cls: Any) -> Any:
        if name in table:
            raise ValueError(f"model {name} registered twice")
        table[name] = cls
        return cls
    return deco


def register_pred(name: str):
    return _register(PRED, name)


def register_recon(name: str):
    return _register(RECON, name)


def register_forecaster(name: str):
    return _register(FORECASTERS, name)


def register_reasoner(name: str):
    return _register(REASONERS, name)


def _load_all() -> None:
    import model.ae  # noqa: F401
    import model.gat  # noqa: F401
    import model.timellm  # noqa: F401
    import model.mamba  # noqa: F401
    import model.forecasters  # noqa: F401
    import model.patchtst  # noqa: F401
    import model.llm_ps  # noqa: F401
    import model.reasoner  # noqa: F401


def forecaster_names() -> tuple[str, ...]:
    _load_all()
    return tuple(sorted(FORECASTERS))


def build_forecaster(cfg) -> nn.Module:
    _load_all()
    if cfg.forecaster not in FORECASTERS:
        raise UserError(f"unknown forecaster {cfg.forecaster!r}; known: {', '.join(sorted(FORECASTERS))}")
    return FORECASTERS[cfg.forecaster](cfg)


def reasoner_names() -> tuple[str, ...]:
    _load_all()
    return tuple(sorted(REASONERS))


def check_reasoner(name: str) -> None:
    """Stop in one line when `name` is not a registered reasoner."""
    if name not in reasoner_names():
        raise UserError(f"unknown reasoner {name!r}; known: {', '.join(reasoner_names())}")


def build_reasoner(cfg, n_channels: int):
    """`cfg.rs_model`'s reasoner for series of `n_channels` channels."""
    check_reasoner(cfg.rs_model)
    return REASONERS[cfg.rs_model](cfg, n_channels)


def _build(table: dict[str, type[nn.Module]], kind: str, name: str, cfg, n_features: int) -> nn.Module:
    _load_all()
    if name not in table:
        raise UserError(f"unknown {kind} model {name!r}; known: {', '.join(sorted(table))}")
    return table[name](cfg, n_features)


def build_pred(cfg, n_features: int) -> nn.Module:
    return _build(PRED, "prediction", cfg.pred_model, cfg, n_features)


def build_recon(cfg, n_features: int) -> nn.Module:
    return _build(RECON, "reconstruction", cfg.recon_model, cfg, n_features)


def build_models(cfg, n_features: int, device) -> tuple[nn.Module, nn.Module]:
    """The prediction and reconstruction branches, on `device`."""
    return build_pred(cfg, n_features).to(device), build_recon(cfg, n_features).to(device)
