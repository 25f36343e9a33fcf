#!/usr/bin/env bash
# Set up a fresh Debian 12 + Node 20 machine (as root) for all of resgrad's tests, idempotently
# (a second run, or a run after the README's `npm ci`, installs nothing and takes seconds):
#  - apt: the PyTorch oracle (python3-torch + torchvision: the model parity tests generate their
#    weights with it), Fashion-MNIST (dataset-fashion-mnist: resgrad train's full data set) and
#    the GPU test stack (.ci/setup-gpu.sh: headless-gl's build deps, Mesa, Xvfb, Chromium);
#  - npm ci, unless node_modules already holds what package-lock.json pins
#    (.ci/node_modules_current.mjs): npm ci deletes node_modules and rebuilds the gl addon;
#  - then the gl addon is built if missing and checked under Xvfb (.ci/setup-gpu.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=""
for p in python3-torch python3-torchvision dataset-fashion-mnist; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  echo "setup: apt-get install$need"
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need
fi
sh .ci/setup-gpu.sh --apt-only
if ! node .ci/node_modules_current.mjs; then
  # onnxruntime-node (a bench peer) must not download CUDA binaries; its CPU build ships in the package.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi
sh .ci/setup-gpu.sh          # builds the gl addon if it is missing or does not load, then checks it
