#!/usr/bin/env bash
# Builds the BPF objects (bpf/out/) and the TypeScript (dist/); both incremental.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/build-bpf.sh
npx tsc -p . --incremental --tsBuildInfoFile dist/.tsbuildinfo
