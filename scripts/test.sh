#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: set-up (daemon, venv, chromium), the test
# registry (scripts/registry.sh), lint, then unit, integration (real daemon and registry),
# kernel, browser and notebook (nbval) tests.
# Extra arguments go to pytest (e.g. -k options -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
echo "==> test registry (127.0.0.1, htpasswd + TLS)"
bash scripts/registry.sh start
echo "==> ruff"
lint=(jupyter_dockerbuild tests build_labextension.py)
[ -d bench ] && lint+=(bench)
.venv/bin/ruff check "${lint[@]}"
.venv/bin/ruff format --check "${lint[@]}"
echo "==> pytest"
# Browser tests must run here, not skip: chromium was installed by setup.sh --test.
export JUPYTER_DOCKERBUILD_REQUIRE_BROWSER=1
targets=(tests)
compgen -G "notebooks/*.ipynb" >/dev/null && targets+=(notebooks --nbval-lax)
exec .venv/bin/python -m pytest "${targets[@]}" "$@"
