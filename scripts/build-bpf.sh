#!/usr/bin/env bash
# Compiles the C datapath in bpf/ into BPF objects in bpf/out/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bpf/out"
mkdir -p "$out"
arch_inc="/usr/include/$(uname -m)-linux-gnu"
for src in "$root"/bpf/*.bpf.c; do
  obj="$out/$(basename "${src%.c}").o"
  if [ "$obj" -nt "$src" ] && [ -z "$(find "$root/bpf/lib" -newer "$obj" -print -quit)" ]; then continue; fi
  clang -O2 -g -Wall -Werror -target bpf -D__TARGET_ARCH_x86 -I"$arch_inc" -I"$root/bpf" \
    -c "$src" -o "$obj.tmp"
  mv "$obj.tmp" "$obj"
done
