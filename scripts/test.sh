#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: set-up (daemon, venv, chromium), lint,
# then unit, integration (real daemon), kernel, browser and notebook (nbval) tests.
# Extra arguments go to pytest (e.g. -k options -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
echo "==> ruff"
.venv/bin/ruff check jupyter_dockerbuild tests bench
.venv/bin/ruff format --check jupyter_dockerbuild tests bench
echo "==> pytest"
exec .venv/bin/python -m pytest tests notebooks --nbval-lax "$@"
