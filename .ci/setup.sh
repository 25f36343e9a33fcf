#!/usr/bin/env bash
# Set up a fresh Debian 12 + Node 20 machine (as root) for all of resgrad's tests:
#  - apt: the GPU test stack (headless-gl's build deps, Mesa, Xvfb) and the PyTorch oracle
#    (python3-torch + torchvision: the model parity tests generate their weights with it);
#  - npm ci (which builds the gl addon now that its deps are there), then a check that
#    headless-gl opens a context under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=""
for p in python3-torch python3-torchvision; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need
fi
sh .ci/setup-gpu.sh          # apt part (node_modules not there yet)
# onnxruntime-node (a bench peer) must not try to download CUDA binaries; its CPU build ships in the package.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
sh .ci/setup-gpu.sh          # builds/checks the gl addon
