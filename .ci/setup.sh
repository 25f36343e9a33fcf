#!/usr/bin/env bash
# Set up a fresh Debian 12 + Node 20 machine (as root) for resgrad's tests:
# npm dependencies, then the GPU test stack (headless-gl addon + Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund
bash .ci/setup-gpu.sh
