#!/usr/bin/env bash
# Builds and runs Tests/CKernels/clones.c: the kernels' instruction-set builds against each other, bit for bit.
set -euo pipefail
cd "$(dirname "$0")"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"${CC:-clang}" -O2 -I../../Sources/CKernels/include clones.c -o "$out/clones" -lm
"$out/clones"
