#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: set-up (daemon, venv, chromium), the test
# registry (scripts/registry.sh), lint, then unit, integration (real daemon and registry),
# kernel, browser and notebook (nbval) tests on the host's Docker Engine, then the engine
# matrix: the daemon-facing tests (builds, limits, failures, cancel, TLS, version
# negotiation, kernels, notebooks) again on each other engine, started beside the host's
# by scripts/modern-engine.sh (cached chroots).
# Extra arguments go to pytest in every run (e.g. -k options -x).
#
# JUPYTER_DOCKERBUILD_ENGINES chooses the other engines: Debian suites, `:containerd` for
# the containerd image store, e.g. "trixie sid"; "" for the host engine only. Default on
# Debian 12: "trixie sid"; on Debian 13: "bookworm sid". The containerd image store
# (`trixie:containerd`) is left out by default: BuildKit builds there go through the
# session's FileSync (a tar body would fail and make the daemon look up a made-up host,
# moby/moby#47717, so the builder refuses it), and the FileSync, guard and secret tests
# have passed there, but the whole daemon suite has not yet been run on that store.
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

if [ -z "${JUPYTER_DOCKERBUILD_ENGINES+set}" ]; then
  case "$(cut -d. -f1 /etc/debian_version)" in
    12) JUPYTER_DOCKERBUILD_ENGINES="trixie sid" ;;
    *) JUPYTER_DOCKERBUILD_ENGINES="bookworm sid" ;;
  esac
fi

report=$(mktemp /tmp/jdb-engines.XXXXXX)
started=()
# "trixie:containerd" -> (trixie --containerd-store)
engine_args() {
  args=("${1%%:*}")
  if [ "${1#*:}" = containerd ]; then args+=(--containerd-store); fi
}
# shellcheck disable=SC2317  # called by the EXIT trap
finish() {
  local engine
  for engine in "${started[@]}"; do
    engine_args "$engine"
    bash scripts/modern-engine.sh stop "${args[@]}" >/dev/null || true
  done
  rm -f "$report"
}
trap finish EXIT
export JUPYTER_DOCKERBUILD_ENGINE_REPORT=$report
t0=$SECONDS
rc=0

echo "==> pytest (host engine)"
# Browser tests must run here, not skip: chromium was installed by setup.sh --test.
export JUPYTER_DOCKERBUILD_REQUIRE_BROWSER=1
targets=(tests)
compgen -G "notebooks/*.ipynb" >/dev/null && targets+=(notebooks --nbval-lax)
.venv/bin/python -m pytest "${targets[@]}" "$@" || rc=$?

# The browser tests drive the frontend (and write the README's screenshots): host only.
for engine in $JUPYTER_DOCKERBUILD_ENGINES; do
  engine_args "$engine"
  echo "==> engine $engine: scripts/modern-engine.sh start ${args[*]}"
  # Stopped at the end only if this run started it.
  if ! bash scripts/modern-engine.sh status "${args[@]}" >/dev/null 2>&1; then
    started+=("$engine")
  fi
  if ! bash scripts/modern-engine.sh start "${args[@]}"; then
    echo "engine $engine: did not start" >>"$report"
    rc=1
    continue
  fi
  echo "==> pytest -m 'daemon and not browser' on engine $engine"
  engine_rc=0
  (
    # DOCKER_HOST for every client (kernels and notebooks inherit it); the chroot for
    # the TLS tests' own dockerd.
    while IFS= read -r kv; do export "${kv?}"; done < <(bash scripts/modern-engine.sh env "${args[@]}")
    unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
    exec .venv/bin/python -m pytest "${targets[@]}" -m "daemon and not browser" "$@"
  ) || engine_rc=$?
  # 5: nothing selected (e.g. -k matched no daemon test): not a failure.
  if [ "$engine_rc" != 0 ] && [ "$engine_rc" != 5 ]; then rc=$engine_rc; fi
done

echo "==> engines (matrix wall time $((SECONDS - t0)) s)"
cat "$report"
exit "$rc"
