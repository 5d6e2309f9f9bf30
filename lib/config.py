"""One configuration object for a whole run.

`Config` is the single source of every hyperparameter. `run.py` and `test.py`
build their argparse flags from its fields (argparse only overrides), every
checkpoint and result stores `Config.to_dict()`, and `test.py` rebuilds the
models from the copy inside the checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any

from lib.errors import UserError

DATA_ROOT_ENV = "LLM_TSAD_DATA_ROOT"


# What each field belongs to, in its metadata "scope":
#   data, model, training: fixed once a detector is trained;
#   imputation, forecasting, reasoning: impute.py's, forecast.py's and reason.py's own; inference: how the frozen LLM computes, not what was learned;
#   budget: how long training may go on; run: where files live and what runs them;
#   scoring: test.py's, never seen by training.
# test.py may change the inference, budget, run and scoring fields of a checkpoint's config,
# and the data fields marked "rescore" (gap filling for the robustness experiment, and the
# validation cap, which scoring does not use); a resumed run may change budget and run fields.
SCOPES = ("data", "imputation", "forecasting", "reasoning", "model", "inference", "training", "budget", "run", "scoring")
RESCORABLE_SCOPES = ("inference", "budget", "run", "scoring")
RESUMABLE_SCOPES = ("budget", "run")


@dataclass
class Config:
    # ---- data -------------------------------------------------------------
    data: str = field(default="synthetic", metadata={"scope": "data", "help": "dataset name (see --list_data)"})
    entity: str = field(default="", metadata={"scope": "data", "help": "machine / channel / run; 'all' runs every one present"})
    data_root: str = field(default="", metadata={"scope": "run", "help": f"folder holding the datasets (env {DATA_ROOT_ENV}, default dataset/)"})
    val_ratio: float = field(default=0.2, metadata={"scope": "data", "help": "chronological share of train kept for validation"})
    window_size: int = field(default=15, metadata={"scope": "data", "help": "window length L"})
    n_pred: int = field(default=3, metadata={"scope": "data", "help": "forecast horizon H: the last H steps of each window"})
    down_len: int = field(default=1, metadata={"scope": "data", "help": "down-sampling block (1 = none): median of features, max of labels"})
    is_mas: bool = field(default=False, metadata={"scope": "data", "help": "add moving averages over sub-windows as extra channels"})
    mas_windows: str = field(default="3,5,10,20", metadata={"scope": "data", "help": "moving-average lengths for --is_mas"})
    nnodes: int = field(default=0, metadata={"scope": "data", "help": "feature count N (0 = read from the data)"})
    nan_policy: str = field(default="refuse", metadata={"scope": "data", "rescore": True, "choices": ('refuse', 'fill'), "help": "refuse | fill: what to do with NaN/inf in the data"})
    impute: str = field(default="none", metadata={"scope": "data", "rescore": True, "choices": ('none', 'linear', 'locf', 'llm4imp'), "help": "fill gaps before scaling: none (see --nan_policy) | linear | "
                                                          "locf | llm4imp (trained on train, saved beside the checkpoint)"})
    clip_test: bool = field(default=False, metadata={"scope": "scoring", "help": "clip scaled test data to the train range [0, 1] (STAMP "
                                                             "does not; a scoring flag)"})
    label_col: str = field(default="label", metadata={"scope": "data", "help": "label column of the generic CSV format"})
    syn_features: int = field(default=8, metadata={"scope": "data", "help": "synthetic: number of features"})
    syn_train_len: int = field(default=4000, metadata={"scope": "data", "help": "synthetic: train length"})
    syn_test_len: int = field(default=3000, metadata={"scope": "data", "help": "synthetic: test length"})
    max_train_windows: int = field(default=0, metadata={"scope": "data", "help": "cap on training windows, evenly spaced (0 = all); the detector's per epoch, and the imputer's of --impute llm4imp and impute.py"})
    max_val_windows: int = field(default=0, metadata={"scope": "data", "rescore": True, "help": "cap on validation windows, evenly spaced (0 = all)"})

    # ---- imputation (impute.py) -------------------------------------------
    imputer: str = field(default="llm4imp", metadata={"scope": "imputation", "help": "impute.py (also --model): llm4imp | saits | timellm | "
                                                               "mean | locf | linear"})
    missing_rate: float = field(default=0.1, metadata={"scope": "imputation", "help": "impute.py: share of values removed artificially"})
    missing_pattern: str = field(default="point", metadata={"scope": "imputation", "choices": ('point', 'block', 'subseq'), "help": "impute.py: point | block | subseq"})
    imp_steps: int = field(default=48, metadata={"scope": "imputation", "help": "impute.py: window length n_steps"})
    imp_series: str = field(default="train", metadata={"scope": "imputation", "choices": ('train', 'both'), "help": "impute.py, datasets other than ETT: train (its training "
                                                                "series, 60/20/20 %) | both (train/val from the training "
                                                                "series, test from the test series)"})
    test_missing_rate: float = field(default=0.0, metadata={"scope": "scoring", "help": "test.py robustness: remove this share of the test "
                                                                    "values (0 = none), then fill them by --impute"})
    test_missing_pattern: str = field(default="point", metadata={"scope": "scoring", "choices": ('point', 'block', 'subseq'), "help": "test.py robustness: point | block | subseq"})

    # ---- forecasting (forecast.py) ------------------------------------------
    forecaster: str = field(default="dlinear", metadata={"scope": "forecasting", "help": "forecast.py (also --model): "
                                                           "naive | seasonal_naive | dlinear | patchtst | timellm | "
                                                           "llm_ps (model/registry.py)"})
    seq_len: int = field(default=96, metadata={"scope": "forecasting", "help": "forecast.py: lookback window"})
    pred_len: int = field(default=96, metadata={"scope": "forecasting", "help": "forecast.py: horizon"})
    percent: int = field(default=100, metadata={"scope": "forecasting", "help": "forecast.py: share of the training "
                                                                              "windows kept, first ones (10 = few-shot)"})
    season_len: int = field(default=24, metadata={"scope": "forecasting", "help": "seasonal_naive: the season's "
                                                                                  "length in steps"})
    fc_lr: float = field(default=0.0, metadata={"scope": "forecasting", "help": "forecast.py: Adam learning rate; 0 = "
                                                                              "the model's published one (DLinear "
                                                                              "0.005, PatchTST 1e-4, Time-LLM 0.01, "
                                                                              "LLM-PS 0.001)"})
    fc_patch_len: int = field(default=16, metadata={"scope": "forecasting", "help": "patchtst, timellm, llm_ps: "
                                                                                  "patch length"})
    fc_stride: int = field(default=8, metadata={"scope": "forecasting", "help": "patchtst, timellm, llm_ps: patch stride"})
    fc_d_model: int = field(default=512, metadata={"scope": "forecasting", "help": "patchtst: model width"})
    fc_d_ff: int = field(default=2048, metadata={"scope": "forecasting", "help": "patchtst: feed-forward width"})
    fc_layers: int = field(default=1, metadata={"scope": "forecasting", "help": "patchtst: encoder layers"})
    fc_n_heads: int = field(default=0, metadata={"scope": "forecasting", "help": "patchtst: attention heads; 0 = "
                                                                               "per horizon, as its ETTh1 scripts"})
    fc_batch_size: int = field(default=32, metadata={"scope": "forecasting", "help": "forecast.py: windows per "
                                                                                    "training batch (every channel of each)"})
    fc_lradj: str = field(default="type1", metadata={"scope": "forecasting", "choices": ("type1", "none"),
                                                     "help": "forecast.py: type1 halves the learning rate after "
                                                             "every epoch (DLinear's, PatchTST's default) | none"})
    ps_mscnn: bool = field(default=True, metadata={"scope": "forecasting", "help": "llm_ps: the multi-scale CNN "
                                                                             "(False: ablation, patches of the series)"})
    ps_t2t: bool = field(default=True, metadata={"scope": "forecasting", "help": "llm_ps: the T2T module and its "
                                                                           "alignment loss (False: ablation)"})
    ps_lambda: float = field(default=0.01, metadata={"scope": "forecasting", "help": "llm_ps: weight of the "
                                                                               "MSCNN-T2T alignment loss"})
    ps_channels: int = field(default=32, metadata={"scope": "forecasting", "help": "llm_ps: MSCNN width (4 "
                                                                             "branches of a quarter each)"})
    ps_blocks: int = field(default=2, metadata={"scope": "forecasting", "help": "llm_ps: MSCNN bottleneck blocks"})
    ps_mask: float = field(default=0.75, metadata={"scope": "forecasting", "help": "llm_ps: share of patches T2T masks"})
    ps_time_words: int = field(default=100, metadata={"scope": "forecasting", "help": "llm_ps: T2T's vocabulary, the "
                                                                                  "words nearest the time words"})
    ps_t2t_dim: int = field(default=64, metadata={"scope": "forecasting", "help": "llm_ps: T2T width"})

    # ---- reasoning (reason.py) ----------------------------------------------
    rs_data: str = field(default="expe/reasoning_data", metadata={"scope": "reasoning", "help": "reason.py: the "
                                                                  "folder of generated tasks (train/test/heldout.jsonl)"})
    rs_length: int = field(default=96, metadata={"scope": "reasoning", "help": "reason.py make-data: steps per series"})
    rs_channels: int = field(default=3, metadata={"scope": "reasoning", "help": "reason.py make-data: channels per series"})
    rs_n_train: int = field(default=2100, metadata={"scope": "reasoning", "help": "reason.py make-data: training series"})
    rs_n_eval: int = field(default=350, metadata={"scope": "reasoning", "help": "reason.py make-data: series of the "
                                                                           "test and of the held-out split each"})
    rs_eval_series: int = field(default=0, metadata={"scope": "reasoning", "help": "reason.py train, eval: score the "
                                                                               "first N series of each evaluation split "
                                                                               "(0 = all)"})
    rs_kinds: str = field(default="", metadata={"scope": "reasoning", "help": "reason.py make-data: the kinds to "
                                                                   "inject, comma-separated (default: every kind)"})
    rs_real_share: float = field(default=0.5, metadata={"scope": "reasoning", "help": "reason.py make-data: share of "
                                                                                  "real backgrounds where present"})
    rs_rationale: bool = field(default=True, metadata={"scope": "reasoning", "help": "reason.py make-data: every "
                                                                             "answer opens with its rationale sentence "
                                                                             "(the task); False: 'Answer: <label>' "
                                                                             "alone (a diagnostic)"})
    rs_model: str = field(default="tslm", metadata={"scope": "reasoning",
                                                    "help": "reason.py (model/registry.py REASONERS): tslm "
                                                            "(encoder + projector + LLM, OpenTSLM's "
                                                            "SoftPrompt) | encoder_head (the same encoder, a linear "
                                                            "head per question, no LLM) | stats_forest (random forests "
                                                            "on window statistics) | majority"})
    rs_series_as_text: bool = field(default=False, metadata={"scope": "reasoning", "help": "reason.py tslm: the "
                                                                                   "series as numbers in the prompt, "
                                                                                   "no encoder (a control)"})
    rs_chat_template: bool = field(default=False, metadata={"scope": "reasoning", "help": "reason.py tslm: "
                                                        "the prompt as one user message in the LLM's chat template, "
                                                        "the answer as the assistant's turn, stopped at its end too "
                                                        "(for the instruct model zero-shot)"})
    rs_enc_dim: int = field(default=128, metadata={"scope": "reasoning", "help": "reason.py: encoder width (OpenTSLM: 128)"})
    rs_enc_heads: int = field(default=8, metadata={"scope": "reasoning", "help": "reason.py: encoder heads (OpenTSLM: 8)"})
    rs_enc_layers: int = field(default=6, metadata={"scope": "reasoning", "help": "reason.py: encoder layers (OpenTSLM: 6)"})
    rs_enc_ff: int = field(default=1024, metadata={"scope": "reasoning", "help": "reason.py: encoder feed-forward "
                                                                           "width (OpenTSLM: 1024)"})
    rs_patch: int = field(default=4, metadata={"scope": "reasoning", "help": "reason.py: steps per series token (OpenTSLM: 4)"})
    rs_enc_dropout: float = field(default=0.3, metadata={"scope": "reasoning", "help": "reason.py: encoder dropout "
                                                                                 "(OpenTSLM: 0.3)"})
    rs_enc_norm_first: bool = field(default=False, metadata={"scope": "reasoning", "help": "reason.py: the encoder's "
                                                                                   "layers normalise before attention "
                                                                                   "and feed-forward (pre-LN); "
                                                                                   "OpenTSLM's normalise after (False)"})
    rs_encoder_from: str = field(default="", metadata={"scope": "reasoning", "help": "reason.py train: start the "
                                                                            "encoder from this encoder_head "
                                                                            "checkpoint's (its encoder flags must "
                                                                            "match; a two-stage departure from "
                                                                            "OpenTSLM, whose encoder starts random)"})
    rs_lr: float = field(default=2e-4, metadata={"scope": "reasoning", "help": "reason.py: AdamW learning rate of "
                                                                         "the encoder, heads and LoRA (OpenTSLM's "
                                                                         "encoder: 2e-4)"})
    rs_lr_projector: float = field(default=1e-4, metadata={"scope": "reasoning", "help": "reason.py tslm: AdamW "
                                                                                   "learning rate of the projector "
                                                                                   "(OpenTSLM: 1e-4)"})
    rs_warmup: float = field(default=0.03, metadata={"scope": "reasoning", "help": "reason.py: share of the steps "
                                                                             "of --epochs with a linear warm-up, "
                                                                             "then a linear decay to 0 (OpenTSLM: 0.03)"})
    rs_grad_clip: float = field(default=1.0, metadata={"scope": "reasoning", "help": "reason.py: gradient norm "
                                                                               "clipping, 0 = off (OpenTSLM: 1.0)"})
    rs_batch_size: int = field(default=8, metadata={"scope": "reasoning", "help": "reason.py: questions per step"})
    rs_max_new_tokens: int = field(default=48, metadata={"scope": "reasoning", "help": "reason.py: longest generated answer"})

    # ---- models ---------------------------------------------------------
    pred_model: str = field(default="gat", metadata={"scope": "model", "help": "prediction branch (see model/registry.py)"})
    recon_model: str = field(default="ae", metadata={"scope": "model", "help": "reconstruction branch: ae | mamba"})
    d_model: int = field(default=32, metadata={"scope": "model", "help": "gat: hidden width per node"})
    em_dim: int = field(default=16, metadata={"scope": "model", "help": "gat: node-embedding size of the learned graph"})
    top_k: int = field(default=10, metadata={"scope": "model", "help": "gat: neighbours kept per node in the learned graph"})
    graph_alpha: float = field(default=3.0, metadata={"scope": "model", "help": "gat: saturation of the graph constructor"})
    layer_num: int = field(default=2, metadata={"scope": "model", "help": "gat: spatio-temporal layers"})
    temp_kernel: int = field(default=3, metadata={"scope": "model", "help": "gat: temporal convolution kernel"})
    embed_size: int = field(default=64, metadata={"scope": "model", "help": "gat: temporal self-attention width"})
    num_heads: int = field(default=4, metadata={"scope": "model", "help": "gat: attention heads"})
    ffwd_size: int = field(default=64, metadata={"scope": "model", "help": "gat: feed-forward width of temporal attention"})
    dropout: float = field(default=0.1, metadata={"scope": "model", "help": "dropout in the prediction branch"})
    latent_size: int = field(default=1, metadata={"scope": "model", "help": "ae: latent units per time step"})
    mamba_d_model: int = field(default=64, metadata={"scope": "model", "help": "mamba: hidden width"})
    mamba_layers: int = field(default=2, metadata={"scope": "model", "help": "mamba: layers in encoder and in decoder"})
    mamba_d_state: int = field(default=16, metadata={"scope": "model", "help": "mamba: SSM state size"})
    mamba_latent: int = field(default=16, metadata={"scope": "model", "help": "mamba: bottleneck size of the window code"})

    llm_backend: str = field(default="llama", metadata={"scope": "model", "choices": ('gpt2', 'llama', 'bert'), "help": "llm: gpt2 | llama | bert"})
    llm_model: str = field(default="", metadata={"scope": "model", "help": "llm: empty = the backend's default (llama: bundled SmolLM2-135M, "
                                                          "bert: bundled MiniLM, gpt2: hub id gpt2); smollm2 | minilm | "
                                                          "tiny (random, for tests) | a local folder | a hub id"})
    llm_layers: int = field(default=6, metadata={"scope": "model", "help": "llm: keep the first k layers (0 = all)"})
    llm_pretrained: bool = field(default=True, metadata={"scope": "model", "help": "llm: False = same architecture, random weights"})
    llm_dtype: str = field(default="float32", metadata={"scope": "inference", "choices": ('float32', 'bfloat16', 'float16', 'auto'), "help": "llm: float32 | bfloat16 | float16 | auto for the frozen LLM (auto: bfloat16 where the machine computes it natively, else float32; the log says which)"})
    llm_load_in_4bit: bool = field(default=False, metadata={"scope": "model", "help": "llm: 4-bit weights via bitsandbytes (CUDA only)"})
    llm_load_in_8bit: bool = field(default=False, metadata={"scope": "model", "help": "llm: 8-bit weights via bitsandbytes (CUDA only)"})
    llm_prompt_mode: str = field(default="dataset", metadata={"scope": "model", "choices": ('none', 'dataset', 'stats_short', 'stats'), "help": "llm: none | dataset | stats_short | stats"})
    llm_top_k_lags: int = field(default=5, metadata={"scope": "model", "help": "llm: autocorrelation lags in the stats prompt"})
    llm_use_mas: bool = field(default=True, metadata={"scope": "model", "help": "llm: feed the --is_mas channels as extra inputs"})
    llm_skip_layers: bool = field(default=False, metadata={"scope": "model", "help": "llm: ablation: no LLM layers (identity); the "
                                                                  "reprogrammed patches go straight to the head"})
    llm_prefix_cache: bool = field(default=True, metadata={"scope": "inference", "help": "llm: run a prompt part that rows share once and reuse its keys/values (causal backends): Time-LLM's and LLM4IMP's prompt, the series part of a reasoning prompt that an example's questions share"})
    llm_patch_len: int = field(default=4, metadata={"scope": "model", "help": "llm: patch length"})
    llm_stride: int = field(default=2, metadata={"scope": "model", "help": "llm: patch stride"})
    llm_d_model: int = field(default=16, metadata={"scope": "model", "help": "llm: patch-embedding width"})
    llm_n_heads: int = field(default=4, metadata={"scope": "model", "help": "llm: reprogramming heads"})
    llm_num_tokens: int = field(default=100, metadata={"scope": "model", "help": "llm: text prototypes"})
    llm_d_ff: int = field(default=32, metadata={"scope": "model", "help": "llm: hidden dims kept for the head"})
    llm_vocab_subset: int = field(default=0, metadata={"scope": "model", "help": "llm: prototypes map only the first k token ids "
                                                                 "(BPE order, roughly by frequency; 0 = whole vocabulary)"})
    llm_lora_r: int = field(default=0, metadata={"scope": "model", "help": "llm: LoRA rank on the LLM's query and value "
                                                                     "projections, through peft (0 = frozen LLM)"})
    llm_one_attention: bool = field(default=False, metadata={"scope": "model", "help": "llm: ablation: the LLM's layers "
                                                                                   "replaced by one trainable attention layer"})

    # ---- training ---------------------------------------------------------
    epochs: int = field(default=10, metadata={"scope": "budget", "help": "maximum epochs"})
    batch_size: int = field(default=64, metadata={"scope": "training", "help": "windows per training batch"})
    eval_batch_size: int = field(default=256, metadata={"scope": "run", "help": "windows per batch when no gradient is needed"})
    pred_lr: float = field(default=1e-3, metadata={"scope": "training", "help": "prediction-branch learning rate"})
    ae_lr: float = field(default=1e-3, metadata={"scope": "training", "help": "reconstruction-branch learning rate"})
    weight_decay: float = field(default=1e-4, metadata={"scope": "training", "help": "Adam weight decay"})
    pred_w0: float = field(default=5.0, metadata={"scope": "training", "help": "w_p(epoch) = pred_w0 / epoch"})
    recon_w0: float = field(default=3.0, metadata={"scope": "training", "help": "w_r(epoch) = recon_w0 / epoch"})
    patience: int = field(default=3, metadata={"scope": "budget", "help": "early-stopping patience in epochs (0 = off)"})
    seed: int = field(default=666, metadata={"scope": "training", "help": "random seed"})
    device: str = field(default="auto", metadata={"scope": "run", "choices": ('auto', 'cpu', 'cuda'), "help": "auto | cpu | cuda"})
    threads: int = field(default=0, metadata={"scope": "run", "help": "torch CPU threads (0 = torch default)"})
    resume: bool = field(default=False, metadata={"scope": "budget", "help": "continue an interrupted run from its last saved state"})
    save_every_min: float = field(default=10.0, metadata={"scope": "run", "help": "forecast.py, reason.py: minutes between saves "
                                  "of the training state within an epoch, for --resume (0: at each epoch's end only)"})
    expe_dir: str = field(default="expe", metadata={"scope": "run", "help": "output folder: pth/, log/, results/"})

    # ---- scoring ---------------------------------------------------------
    test_alpha: float = field(default=0.4, metadata={"scope": "scoring", "help": "weight of the prediction error"})
    test_beta: float = field(default=0.3, metadata={"scope": "scoring", "help": "weight of the reconstruction error"})
    test_gamma: float = field(default=0.3, metadata={"scope": "scoring", "help": "weight of the adversarial error"})
    topk: int = field(default=1, metadata={"scope": "scoring", "help": "features summed into the window score"})
    score_norm: str = field(default="std", metadata={"scope": "scoring", "choices": ('std', 'iqr'), "help": "std (mean/std, STAMP's test.py) | iqr (median/IQR) "
                                                             "per-feature normalisation"})
    norm_source: str = field(default="test", metadata={"scope": "scoring", "choices": ('test', 'val'), "help": "test (STAMP: the test errors' own statistics) | val: "
                                                                "where the STAMP-protocol score's normalisation "
                                                                "statistics come from (label-free thresholds always "
                                                                "use validation statistics)"})
    score_span: str = field(default="window", metadata={"scope": "scoring", "choices": ('window', 'horizon'), "help": "window (STAMP) | horizon: steps of each window whose "
                                                               "reconstruction and adversarial errors are scored"})
    stamp_labels: str = field(default="window", metadata={"scope": "scoring", "choices": ('window', 'step'), "help": "window (STAMP: a window is anomalous when any of its "
                                                                 "steps is; metrics over windows) | step (each window's "
                                                                 "score on its last step, metrics over the original "
                                                                 "steps): the labels of the STAMP-protocol columns"})
    calib_windows: int = field(default=0, metadata={"scope": "scoring", "help": "test.py: the last N consecutive validation windows give the "
                                                              "validation statistics and calibrate the label-free "
                                                              "thresholds (0 = all)"})
    score_agg: str = field(default="max", metadata={"scope": "scoring", "choices": ('max', 'sum', 'mean'), "help": "max | sum | mean over each window's scored steps"})
    smooth: int = field(default=4, metadata={"scope": "scoring", "help": "trailing mean over this many windows (1 = none)"})
    search_steps: int = field(default=500, metadata={"scope": "scoring", "help": "thresholds tried by the best-F1 search"})
    pot_q: float = field(default=1e-3, metadata={"scope": "scoring", "help": "label-free POT threshold: tail probability of a normal score"})
    pot_level: float = field(default=0.98, metadata={"scope": "scoring", "help": "POT: quantile of the validation scores where the tail starts"})
    val_quantile: float = field(default=0.99, metadata={"scope": "scoring", "help": "label-free threshold: this quantile of the validation scores"})
    vus_window: int = field(default=0, metadata={"scope": "scoring", "help": "VUS buffer length in steps (0 = the test series' dominant "
                                                         "period, as TSB-AD picks it)"})

    # ------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return f"{self.pred_model}_{self.recon_model}"

    @property
    def data_tag(self) -> str:
        """Dataset name plus entity, safe for file names. A generic dataset is named by its folder
        (its name and a short hash of its absolute path), so two of them never share outputs."""
        if self.data == "generic":
            return f"generic-{folder_tag(self.resolved_data_root())}"
        tag = self.data if not self.entity else f"{self.data}_{self.entity}"
        return tag.replace("/", "-")

    @property
    def context_len(self) -> int:
        return self.window_size - self.n_pred

    @property
    def mas_list(self) -> list[int]:
        return [int(w) for w in self.mas_windows.split(",") if w.strip()]

    @property
    def in_channels(self) -> int:
        """C of the `[B, L, N, C]` batch: the value plus one channel per moving average."""
        return 1 + (len(self.mas_list) if self.is_mas else 0)

    def resolved_data_root(self) -> str:
        return self.data_root or os.environ.get(DATA_ROOT_ENV, "") or "dataset"

    def validate(self) -> None:
        """Raise UserError on values that cannot work together."""
        if self.window_size < 2 or not 1 <= self.n_pred < self.window_size:
            raise UserError(f"need 1 <= n_pred < window_size, got n_pred={self.n_pred}, window_size={self.window_size}")
        if not 0.0 < self.val_ratio < 1.0:
            raise UserError(f"--val_ratio must be in (0, 1), got {self.val_ratio}")
        for f in fields(self):
            allowed = f.metadata.get("choices")
            if allowed and getattr(self, f.name) not in allowed:
                raise UserError(f"--{f.name} must be one of {'|'.join(allowed)}, got {getattr(self, f.name)!r}")
        if min(self.down_len, self.batch_size, self.eval_batch_size, self.topk) < 1 or self.epochs < 0:
            raise UserError("--down_len, --batch_size, --eval_batch_size and --topk must be >= 1, --epochs >= 0")
        if not (0 < self.pot_q < 1 and 0 < self.pot_level < 1 and 0 < self.val_quantile <= 1):
            raise UserError("--pot_q and --pot_level must lie in (0, 1), --val_quantile in (0, 1]")
        weights = (self.test_alpha, self.test_beta, self.test_gamma)
        if min(weights) < 0 or sum(weights) == 0:
            raise UserError("--test_alpha, --test_beta and --test_gamma must be >= 0, not all 0; got "
                            f"{', '.join(f'{w:g}' for w in weights)}")
        if self.calib_windows < 0:
            raise UserError(f"--calib_windows must be >= 0 (0 = all validation windows), got {self.calib_windows}")
        if self.vus_window < 0:
            raise UserError(f"--vus_window must be >= 0 (0 = the test series' period), got {self.vus_window}")
        if self.pred_model == "llm" and self.llm_patch_len > self.context_len:
            raise UserError(f"--llm_patch_len {self.llm_patch_len} is longer than the context ({self.context_len} steps)")
        if not 0 < self.missing_rate < 1:
            raise UserError(f"--missing_rate must lie in (0, 1), got {self.missing_rate}")
        if not 0 <= self.test_missing_rate < 1:
            raise UserError(f"--test_missing_rate must lie in [0, 1), got {self.test_missing_rate}")
        if min(self.seq_len, self.pred_len, self.season_len, self.fc_batch_size) < 1 or not 0 < self.percent <= 100:
            raise UserError("--seq_len, --pred_len, --season_len and --fc_batch_size must be >= 1, --percent in (0, 100]")
        if min(self.fc_patch_len, self.fc_stride, self.ps_channels // 4, self.ps_blocks, self.ps_time_words) < 1 \
                or self.fc_patch_len > self.seq_len or self.fc_lr < 0 or self.llm_lora_r < 0:
            raise UserError("--fc_patch_len (at most --seq_len), --fc_stride, --ps_blocks and --ps_time_words must be "
                            ">= 1, --ps_channels >= 4, --fc_lr and --llm_lora_r >= 0")
        if not 0 < self.ps_mask < 1 or self.ps_lambda < 0:
            raise UserError(f"--ps_mask must lie in (0, 1) and --ps_lambda be >= 0; got {self.ps_mask}, {self.ps_lambda}")
        if self.is_mas and not self.mas_list:
            raise UserError("--is_mas needs at least one length in --mas_windows")

    # ---- serialisation ----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"config has unknown keys {unknown}: saved by a newer version?")
        return cls(**d)

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)


def scope_of(name: str) -> str:
    return CONFIG_FIELDS[name].metadata["scope"]


def rescorable_fields() -> frozenset[str]:
    """Fields `test.py` may set differently from the checkpoint's config."""
    return frozenset(n for n, f in CONFIG_FIELDS.items()
                     if f.metadata["scope"] in RESCORABLE_SCOPES or f.metadata.get("rescore"))


def resumable_fields() -> frozenset[str]:
    """Fields a `--resume True` run may set differently from the interrupted run's."""
    return frozenset(n for n, f in CONFIG_FIELDS.items() if f.metadata["scope"] in RESUMABLE_SCOPES)


def choices_of(name: str) -> tuple[str, ...]:
    """The allowed values of a field, declared once in its metadata."""
    return CONFIG_FIELDS[name].metadata["choices"]


def folder_tag(folder: str) -> str:
    """`<name>-<6 hex digits of the absolute path>`: readable, and distinct for distinct folders."""
    path = os.path.abspath(folder)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", os.path.basename(path.rstrip(os.sep)) or "root")
    return f"{name}-{hashlib.sha1(path.encode()).hexdigest()[:6]}"


CONFIG_FIELDS = {f.name: f for f in fields(Config)}
assert all(f.metadata.get("scope") in SCOPES for f in CONFIG_FIELDS.values()), "every Config field declares its scope"


def str2bool(text: str) -> bool:
    low = str(text).strip().lower()
    if low in ("true", "1", "yes", "y"):
        return True
    if low in ("false", "0", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def add_config_flags(parser: argparse.ArgumentParser, task_defaults: dict[str, Any] | None = None) -> None:
    """One `--field` flag per Config field. Defaults are None so that only the
    flags a user typed override a base config; the help shows `task_defaults` where the
    entry point applies its own."""
    for f in fields(Config):
        kind = str2bool if f.type in (bool, "bool") else {"int": int, "float": float, "str": str}.get(str(f.type), f.type)
        text = f"{f.metadata.get('help', '')} (default: {(task_defaults or {}).get(f.name, f.default)})"
        # argparse %-formats help strings: a literal percent sign must reach it doubled
        parser.add_argument(f"--{f.name}", type=kind, default=None, help=text.replace("%", "%%"))


def config_from_cli(description: str, model_field: str = "", model_choices: tuple[str, ...] = (),
                    argv=None) -> Config:
    """A task's Config from its command line: one flag per field, `--model` as another name for
    `model_field` (the task's registry choice), validated."""
    parser = argparse.ArgumentParser(description=description)
    add_config_flags(parser)
    if model_field:
        parser.add_argument("--model", dest=model_field, choices=list(model_choices), default=None,
                            help=f"the model (--{model_field})")
    cfg = Config(**overrides_from_args(parser.parse_args(argv)))
    cfg.validate()
    return cfg


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for f in fields(Config) if getattr(args, f.name, None) is not None}
