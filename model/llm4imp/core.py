"""LLM4IMP's model core, as PyPOTS's training loop drives it: the backbone's reconstruction,
the imputation that keeps every observed value, and SAITS's two-part loss."""
from __future__ import annotations

import torch
from pypots.nn.modules import ModelCore
from pypots.nn.modules.loss import MAE, MSE
from pypots.nn.modules.saits import SaitsLoss

from lib.errors import UserError
from model.llm4imp.layers import BackboneLLM4IMP


class _LLM4IMP(ModelCore):
    """`forward(inputs)` with `X`, `missing_mask` `[B, T, D]` (and, for the criterion, `X_ori`,
    `indicating_mask`) -> `{"reconstruction", "imputation"}`, plus in training `loss`
    (MIT on the artificially masked entries + ORT on the observed ones, weighted as SAITS)
    with its two parts, and in evaluation `metric` (MSE on the masked entries)."""

    def __init__(self, backbone: BackboneLLM4IMP, ORT_weight: float = 1.0, MIT_weight: float = 1.0):
        super().__init__()
        self.backbone = backbone
        self.training_loss = SaitsLoss(ORT_weight, MIT_weight, MAE())
        self.validation_metric = MSE()

    def forward(self, inputs: dict, calc_criterion: bool = False) -> dict:
        X, missing_mask = inputs["X"], inputs["missing_mask"]
        if X.shape != missing_mask.shape:
            raise UserError(f"missing_mask has shape {tuple(missing_mask.shape)}, X {tuple(X.shape)}: they must match")
        reconstruction = self.backbone(X, missing_mask)
        observed = missing_mask > 0.5
        # torch.where, not M*X + (1-M)*X_hat: observed values come back bit for bit, NaN gaps included
        results = {"reconstruction": reconstruction, "imputation": torch.where(observed, X, reconstruction)}
        if calc_criterion:
            X_ori, indicating_mask = torch.nan_to_num(inputs["X_ori"]), inputs["indicating_mask"]
            if self.training:
                loss, ort, mit = self.training_loss(reconstruction, X_ori, missing_mask, indicating_mask)
                results.update(loss=loss, ORT_loss=ort, MIT_loss=mit)
            else:
                results["metric"] = self.validation_metric(reconstruction, X_ori, indicating_mask)
        return results
