#!/usr/bin/env bash
# membrane set-up, idempotent: Debian packages, npm dependencies, the
# TypeScript and BPF builds, bpffs. Run as root on Debian 12; `npm run demo`
# and `npm test` call it first, so a fresh machine needs nothing else.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "membrane set-up needs root (packages, bpffs, network namespaces): run it with sudo" >&2
  exit 1
fi

# Debian packages: compiler and headers for the BPF datapath, libbpf for the
# agent, iproute2/util-linux for namespaces and links, curl for the demo,
# bpftool for the layout test; iperf3, wrk, the reference CNI plugins, iptables and haproxy (the L7
# reference) for benchmarks; iputils-ping for the ICMP policy tests.
packages=(clang llvm gcc libc6-dev libbpf-dev libbpf1 linux-libc-dev bpftool iproute2 util-linux procps curl iperf3 wrk containernetworking-plugins iptables haproxy iputils-ping)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages with a service (haproxy) must not start it: the benchmarks run their own instances in lab
  # namespaces. A policy-rc.d that refuses every start, for this install only, unless the machine has one.
  own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

if ! awk '$2 == "/sys/fs/bpf" && $3 == "bpf" { found = 1 } END { exit !found }' /proc/mounts; then
  say "mounting bpffs on /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

bash scripts/build.sh
