#!/bin/sh
# Make gpu.js's 'headlessgl' mode work on a fresh Debian 12 machine (run as root), idempotently:
#  1. apt: what the `gl` addon (gpu.js's optional dependency, headless-gl 8.1.6, which compiles
#     ANGLE from source) needs to build — a C++ toolchain, python3 (node-gyp), pkg-config,
#     libxi-dev (pulls libx11-dev, libxext-dev) — and to run: Mesa's GL drivers (llvmpipe)
#     and an X server to draw on, xvfb + xauth (tests run under `xvfb-run -a`); and Debian's
#     chromium for test/gpu/browser.test.ts (playwright-core drives /usr/bin/chromium; webgl2 and
#     webgpu run on its SwiftShader, no GPU or display needed).
#  2. npm: package.json's "allowScripts": { "gl": true } lets `npm ci` run gl's install script
#     (npm 11 lists unapproved install scripts and a future npm blocks them). When `npm ci` ran
#     before step 1, the build failed and npm dropped the optional package; this puts it back
#     (or rebuilds it) and checks that the addon loads and opens a context under Xvfb.
# Node's headers come from npm's `nodedir` (preset to /usr here); node-gyp needs them offline.
# Usage: sh .ci/setup-gpu.sh [--apt-only]   (after `npm ci`; before it, only the apt part is done)
# A second run installs and builds nothing: each step first checks that its part is there and works.
set -eu
cd "$(dirname "$0")/.."

PKGS="build-essential python3 pkg-config libxi-dev libgl1-mesa-dri xvfb xauth chromium"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup-gpu: apt-get install$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi

if [ "${1:-}" = "--apt-only" ]; then exit 0; fi
if [ ! -d node_modules/gpu.js ]; then
  echo "setup-gpu: node_modules/gpu.js is missing: run 'npm ci', then this script again"
  exit 0
fi

ADDON=node_modules/gl/build/Release/webgl.node
export JOBS="${JOBS:-2}"
# Built when the file is there and loads (a build for another Node ABI, or against libraries since
# removed, is there but does not load).
loads() { [ -f "$ADDON" ] && node -e "require('./$ADDON')" 2>/dev/null; }
if ! loads; then
  if [ -d node_modules/gl ]; then
    echo "setup-gpu: building the gl addon (npm rebuild gl, JOBS=$JOBS; a few minutes)"
    npm rebuild gl --foreground-scripts
  else
    echo "setup-gpu: installing gl from the lockfile (npm dropped it when its build failed; a few minutes)"
    npm install --no-save --no-audit --no-fund --foreground-scripts
  fi
fi
loads || { echo "setup-gpu: $ADDON was not built, or does not load" >&2; exit 1; }

xvfb-run -a node -e "
const gl = require(require.resolve('gl', { paths: [require.resolve('gpu.js')] }))(1, 1);
if (!gl) { console.error('setup-gpu: gl loads but cannot create a WebGL context under Xvfb'); process.exit(1); }
console.log('setup-gpu: headless-gl OK');
"
/usr/bin/chromium --version || { echo "setup-gpu: /usr/bin/chromium does not run" >&2; exit 1; }
