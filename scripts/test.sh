#!/usr/bin/env bash
# The full check: installs what it needs (.venv, pinned CPU torch, the reference HF libraries as the test oracle,
# the offline assets), then lint (ruff), type check (mypy on src/) and the test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/models -x
set -euo pipefail
source "$(dirname "$0")/_env.sh" test
cd "$ROOT"
ruff check src tests bench
mypy
python -m pytest -n 2 --dist loadfile -q "$@"
