#!/usr/bin/env bash
# The main job: set everything up, then open JupyterLab on the quickstart notebook.
# Extra arguments go to `jupyter lab` (e.g. --port 8899 --ip 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/jupyter lab notebooks/quickstart.ipynb --allow-root "$@"
