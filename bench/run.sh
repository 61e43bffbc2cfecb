#!/usr/bin/env bash
# Benchmarks against the docker CLI and docker-py on the same daemon (issue 8).
#
#   bench/run.sh                 # full run (~9 min): writes bench/results/*.json
#                                #   and regenerates bench/RESULTS.md
#   bench/run.sh --quick         # fewer runs (~4 min); prints its tables, keeps RESULTS.md
#   bench/run.sh --only s2,s5    # some scenarios, printed (s1 cold, s2 1M lines, s3 1 GiB
#                                #   context, s4 cached, s5 load_ext/first paint)
#   bench/run.sh --session [--quick] [--runs N] [--only big,small]
#                                # BuildKit and its session against docker buildx build and
#                                #   the classic CLI on the trixie engine (issue 14; root,
#                                #   the engine started: scripts/modern-engine.sh start trixie);
#                                #   --quick: a 32 MiB context, 2 runs (~1 min), nothing written
#
# Not part of the test suite. Needs the daemon at /var/run/docker.sock (or DOCKER_HOST),
# the docker CLI, docker-py, ipykernel and jupyter_client; the local base image is
# built if missing. Everything it creates (images tagged jdb-bench/..., labelled
# org.jupyter-dockerbuild.bench, temp dirs jdb-bench-*) is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
py=${PYTHON:-$py}
if [ "${1:-}" = --session ]; then
  shift
  exec "$py" bench/session.py "$@"
fi
command -v docker >/dev/null || { echo "bench: the docker CLI is not on PATH" >&2; exit 1; }
"$py" -c "import docker, jupyter_client, ipykernel" 2>/dev/null || {
  echo "bench: needs docker (docker-py), jupyter_client and ipykernel: $py -m pip install docker ipykernel" >&2
  exit 1
}
exec "$py" bench/bench.py "$@"
