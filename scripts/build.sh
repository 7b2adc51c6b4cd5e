#!/usr/bin/env bash
# Builds the BPF objects (bpf/out/), the TypeScript (dist/) and the CNI
# plugin's compiled shim (dist/cni/membrane-cni-shim); all incremental.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/build-bpf.sh
shim_src=src/cni/shim/membrane-cni-shim.c shim=dist/cni/membrane-cni-shim
if ! [ "$shim" -nt "$shim_src" ]; then
  mkdir -p dist/cni
  gcc -O2 -Wall -Wextra -Werror -o "$shim.tmp" "$shim_src"
  mv "$shim.tmp" "$shim"
fi
npx tsc -p . --incremental --tsBuildInfoFile dist/.tsbuildinfo
