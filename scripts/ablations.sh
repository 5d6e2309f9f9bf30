#!/usr/bin/env bash
# The seed's ablation sweeps, each one thing of llm+mamba changed alone: --llm_prompt_mode
# none|dataset|stats_short|stats, --llm_pretrained False, the LLM's layers removed
# (--llm_skip_layers True), and MAS input (--is_mas True --llm_use_mas True; the base has none).
# SMD and MSL, 3 seeds, under scripts/benchmark.py's protocol;
# writes expe/results/bench/ablations/*.json and docs/ABLATIONS.md. Resumable.
#
#   bash scripts/ablations.sh                      # data from ../shared/datasets (or DATA_ROOT)
#   bash scripts/ablations.sh --quick              # CI: synthetic, one seed, tiny
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
exec "$PYTHON" scripts/benchmark.py --grid ablations --data_root "${DATA_ROOT:-../shared/datasets}" "$@"
