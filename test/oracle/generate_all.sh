#!/bin/sh
# Regenerate every committed PyTorch fixture. Needs Debian's python3-torch (apt).
set -e
cd "$(dirname "$0")"
for g in gen_*.py; do /usr/bin/python3 "$g"; done
/usr/bin/python3 ../reliability/gen_nonfinite.py
