# Shared by scripts/demo.sh and scripts/test.sh: create or update the virtual environment in .venv.
# Torch is installed first as the pinned CPU build, so nothing later pulls a CUDA build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EMBRACE_VENV:-$ROOT/.venv}"
EXTRAS="${1:-all}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
stamp="$VENV/.embrace-$EXTRAS-$(cat "$ROOT/pyproject.toml" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q "torch==2.13.0"
  "$VENV/bin/python" -m pip install -q -e "$ROOT[$EXTRAS]"
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export EMBRACE_ASSETS="${EMBRACE_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/embrace/assets}"
PYTHON="$VENV/bin/python" "$ROOT/scripts/fetch-assets.sh" >/dev/null
