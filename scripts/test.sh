#!/usr/bin/env bash
# The full check: installs what it needs (.venv, pinned CPU torch, the reference HF libraries as the test oracle,
# the offline assets), then lint (ruff), type check (mypy on src/) and the test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/models -x
set -euo pipefail
source "$(dirname "$0")/_env.sh" test
cd "$ROOT"
# The browser tests (tests/ui, tests/serving) drive Debian's `chromium`: install it when we are root with apt-get;
# without it those tests skip, so a failed install never fails this script.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "scripts/test.sh: could not install chromium; the browser tests will be skipped" >&2
fi
ruff check src tests bench
mypy
# Two pytest workers on a 2-core machine: one torch/OpenMP thread each. With torch's default (one per core) the
# workers' threads spin against each other and tiny-model forwards get 10x+ slower.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python -m pytest -n 2 --dist loadfile -q "$@"
