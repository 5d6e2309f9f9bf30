#!/usr/bin/env bash
# llm+mamba on SMD machine-1-2 with the stats_short prompt: one epoch on 1,600 training windows,
# 500 validation windows, scored in bfloat16 (docs/LLM.md, "The seed's example").
#   bash scripts/detect/SMD/llm_mamba_stats_short.sh     # data from ../shared/datasets, or DATA_ROOT
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
FLAGS=(--data SMD --entity machine-1-2 --data_root "${DATA_ROOT:-../shared/datasets}" --pred_model llm
       --recon_model mamba --window_size 15 --n_pred 3 --epochs 1 --batch_size 8 --llm_layers 6 --llm_patch_len 4
       --llm_stride 2 --llm_prompt_mode stats_short --max_val_windows 500)
"$PYTHON" run.py "${FLAGS[@]}" --max_train_windows 1600
"$PYTHON" test.py "${FLAGS[@]}" --llm_dtype bfloat16
