"""Plain containers passed between the data modules."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class RawData:
    """A dataset as read from disk, before any preprocessing.

    train: `[T_train, N]`, test: `[T_test, N]`, labels: `[T_test]` in {0, 1}.
    interpretation: for SMD and the synthetic data, `(start, end, [feature
    indices])` per anomaly segment (0-based, end exclusive, as SMD's files give
    it: `labels[end]` is the first normal step), else empty.
    kinds: where the data knows them (synthetic), each interpreted segment's
    kind in the reasoning task's words (`lib.data.reasoning.KINDS`; "" for a
    kind the task has no word for), else empty.
    """

    train: np.ndarray
    test: np.ndarray
    labels: np.ndarray
    names: list[str]
    source: str
    interpretation: list[tuple[int, int, list[int]]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


@dataclass
class Prepared:
    """Model-ready series. Every tensor is `[T, N, C]`: channel 0 is the
    min-max scaled value, channels 1.. are its moving averages (`--is_mas`)."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    test_labels: np.ndarray       # [T_test'] labels at model resolution (after down-sampling)
    test_labels_orig: np.ndarray  # [T_test] labels of the original series
    names: list[str]
    scaler_min: np.ndarray        # [N]
    scaler_scale: np.ndarray      # [N]
    source: str
    interpretation: list[tuple[int, int, list[int]]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    filled: int = 0               # values --impute filled in the raw data
    test_raw_first: np.ndarray | None = None   # [T_test] first raw test feature, unscaled: picks VUS's window

    @property
    def n_features(self) -> int:
        return int(self.train.shape[1])
