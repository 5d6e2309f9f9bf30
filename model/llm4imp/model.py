"""LLM4IMP, the public imputer: PyPOTS's `BaseNNImputer` API (`fit`, `predict`, `impute`,
`save`, `load`), with PyPOTS's own training loop, early stopping and saving driving the
model; the frozen LLM is loaded as everywhere else in the project (`model/llm/backends.py`).

    imputer = LLM4IMP(n_steps=48, n_features=7, epochs=10)
    imputer.fit({"X": train}, {"X": val_with_gaps, "X_ori": val})
    filled = imputer.impute({"X": test})         # [n, 48, 7], observed values untouched
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch
from pypots.imputation.base import BaseNNImputer
from pypots.imputation.saits.data import DatasetForSAITS
from pypots.nn.modules.loss import MAE, MSE
from pypots.optim.adam import Adam
from pypots.optim.base import Optimizer
from torch.utils.data import DataLoader

from lib.config import Config
from lib.errors import UserError
from lib.utils import progress
from model.llm4imp.core import _LLM4IMP
from model.llm4imp.layers import BackboneLLM4IMP, PromptBuilder
from model.llm.backends import load_llm
from model.llm.prompts import dataset_description


class EpochBars:
    """A loader that reports its progress on each pass (`progress`): PyPOTS's training loop
    logs only once an epoch ends, and an LLM4IMP epoch on CPU takes minutes."""

    def __init__(self, loader: DataLoader, desc: str):
        self.loader, self.desc, self.passes = loader, desc, 0

    def __iter__(self):
        self.passes += 1
        return iter(progress(self.loader, len(self.loader), f"{self.desc} epoch {self.passes}"))

    def __len__(self) -> int:
        return len(self.loader)


class LLM4IMP(BaseNNImputer):
    """Frozen-LLM imputer. Hyperparameters as the seed names them: `n_steps`, `n_features`,
    `patch_size`, `d_model`, `d_ffn`, `n_heads`, `dropout`; `d_llm` is read from the LLM's
    config. The LLM: `llm_backend` (gpt2 | llama | bert), `llm_model` (empty = the bundled
    default), `llm_layers`, `llm_pretrained`, `llm_dtype`, `llm_skip_layers` (the no-LLM
    ablation). `prompt_mode`: none | dataset | stats; `data` names the prompt-bank entry.
    The training loss is SAITS's: `MIT_weight` x MAE on the artificially masked entries
    plus `ORT_weight` x MAE on the observed ones (`mit_rate` of observed values are masked
    afresh in every training batch)."""

    def __init__(self, n_steps: int, n_features: int, patch_size: int = 4, patch_stride: int = 0, d_model: int = 16,
                 d_ffn: int = 32, n_heads: int = 4, dropout: float = 0.1, num_tokens: int = 100,
                 prompt_mode: str = "stats", data: str = "generic", llm_backend: str = "llama", llm_model: str = "",
                 llm_layers: int = 6, llm_pretrained: bool = True, llm_dtype: str = "float32",
                 llm_skip_layers: bool = False, prefix_cache: bool = True, ORT_weight: float = 1.0,
                 MIT_weight: float = 1.0, mit_rate: float = 0.2, batch_size: int = 32, epochs: int = 100,
                 patience: Optional[int] = None, optimizer: Union[Optimizer, type] = Adam, num_workers: int = 0,
                 device: Optional[Union[str, torch.device, list]] = None, saving_path: Optional[str] = None,
                 model_saving_strategy: Optional[str] = "best", verbose: bool = True):
        super().__init__(training_loss=MAE, validation_metric=MSE, batch_size=batch_size, epochs=epochs,
                         patience=patience, num_workers=num_workers, device=device, enable_amp=False,
                         saving_path=saving_path, model_saving_strategy=model_saving_strategy, verbose=verbose)
        if not 0 < mit_rate < 1:
            raise UserError(f"mit_rate must lie in (0, 1), got {mit_rate}")
        if patch_size > n_steps:
            raise UserError(f"patch_size {patch_size} is longer than the series ({n_steps} steps)")
        self.n_steps, self.n_features, self.mit_rate = n_steps, n_features, mit_rate
        llm_cfg = Config(llm_backend=llm_backend, llm_model=llm_model, llm_layers=llm_layers,
                         llm_pretrained=llm_pretrained, llm_dtype=llm_dtype)
        llm, tokenizer, backend = load_llm(llm_cfg)
        backbone = BackboneLLM4IMP(llm, tokenizer, backend, n_steps, patch_size, patch_stride or max(1, patch_size // 2),
                                   d_model, d_ffn, n_heads, num_tokens, dropout,
                                   PromptBuilder(dataset_description(data), prompt_mode), prefix_cache,
                                   llm_skip_layers)
        self.d_llm = backbone.d_llm
        self.model = _LLM4IMP(backbone, ORT_weight, MIT_weight)
        self._send_model_to_given_device()
        self._print_model_size()
        self.optimizer = optimizer if isinstance(optimizer, Optimizer) else optimizer()
        self.optimizer.init_optimizer([p for p in self.model.parameters() if p.requires_grad])

    # ---- batches as the core wants them -------------------------------------------------
    def _assemble_input_for_training(self, data: list) -> dict:
        _, X, missing_mask, X_ori, indicating_mask = self._send_data_to_given_device(data)
        return {"X": X, "missing_mask": missing_mask, "X_ori": X_ori, "indicating_mask": indicating_mask}

    def _assemble_input_for_validating(self, data: list) -> dict:
        return self._assemble_input_for_training(data)

    def _assemble_input_for_testing(self, data: list) -> dict:
        _, X, missing_mask = self._send_data_to_given_device(data)
        return {"X": X, "missing_mask": missing_mask}

    # ---- the imputer API ------------------------------------------------------------------
    def fit(self, train_set: Union[dict, str], val_set: Optional[Union[dict, str]] = None,
            file_type: str = "hdf5") -> None:
        """Train on `train_set["X"]` `[n, n_steps, n_features]` (NaN = missing); validate (early stopping,
        best model) on `val_set` with `X` and the ground truth `X_ori`."""
        self._check(train_set)
        train = DatasetForSAITS(train_set, return_X_ori=False, return_y=False, file_type=file_type,
                                rate=self.mit_rate)
        train_loader = DataLoader(train, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers)
        val_loader = None
        if val_set is not None:
            if not isinstance(val_set, dict) or "X_ori" not in val_set:
                raise UserError("val_set needs 'X_ori', the values before masking, to validate against")
            self._check(val_set)
            val = DatasetForSAITS(val_set, return_X_ori=True, return_y=False, file_type=file_type)
            val_loader = DataLoader(val, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers)
        self._train_model(EpochBars(train_loader, "LLM4IMP"), val_loader)
        self.model.load_state_dict(self.best_model_dict)
        self._auto_save_model_if_necessary(confirm_saving=True)

    def predict(self, test_set: Union[dict, str], file_type: str = "hdf5", **kwargs) -> dict:
        """`{"imputation": [n, n_steps, n_features]}` for `test_set["X"]`; observed values are kept exactly."""
        self._check(test_set)
        return super().predict(test_set, file_type, **kwargs)

    def _check(self, data: Union[dict, str]) -> None:
        """One clear error for data the model cannot take."""
        if not isinstance(data, dict):
            return   # a file: PyPOTS reads and checks it
        X = np.asarray(data["X"], dtype=float)
        if X.ndim != 3 or X.shape[1:] != (self.n_steps, self.n_features):
            raise UserError(f"X has shape {X.shape}; this imputer takes [n, {self.n_steps}, {self.n_features}]")
        if "X_ori" in data and np.shape(data["X_ori"]) != X.shape:
            raise UserError(f"X_ori has shape {np.shape(data['X_ori'])}, X {X.shape}: they must match")
        empty = np.flatnonzero(np.isnan(X).all(axis=(0, 1)))
        if empty.size:
            raise UserError(f"feature(s) {', '.join(map(str, empty[:5]))} are missing everywhere: nothing to learn "
                            f"them from; drop them first")
