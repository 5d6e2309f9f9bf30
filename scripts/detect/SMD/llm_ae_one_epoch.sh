#!/usr/bin/env bash
# llm+ae on SMD machine-1-2: one epoch on 512 training windows, scored in bfloat16 on the whole
# test set (docs/LLM.md, "One SMD machine's test set").
#   bash scripts/detect/SMD/llm_ae_one_epoch.sh     # data from ../shared/datasets, or DATA_ROOT
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
DATA=(--data SMD --entity machine-1-2 --data_root "${DATA_ROOT:-../shared/datasets}" --pred_model llm)
"$PYTHON" run.py "${DATA[@]}" --epochs 1 --max_train_windows 512
"$PYTHON" test.py "${DATA[@]}" --llm_dtype bfloat16
