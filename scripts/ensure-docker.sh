#!/usr/bin/env bash
# Make sure a Docker daemon answers /_ping, idempotently.
#
# - If DOCKER_HOST (or the default socket /var/run/docker.sock) already answers, use it.
# - Otherwise install Debian's docker.io and busybox-static (as root) and start
#   `dockerd --bridge=none --iptables=false` on /var/run/docker.sock, then wait for /_ping.
#
# Nothing here talks to any address but the local socket: these machines reach no registry.
set -euo pipefail

SOCK=/var/run/docker.sock
LOG=${DOCKERD_LOG:-/var/log/jupyter-dockerbuild-dockerd.log}

ping_ok() {
  local host=${DOCKER_HOST:-unix://$SOCK}
  case "$host" in
    unix://*) curl -fsS --max-time 3 --unix-socket "${host#unix://}" http://docker/_ping >/dev/null 2>&1 ;;
    tcp://*) curl -fsS --max-time 3 "http://${host#tcp://}/_ping" >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# busybox-static gives the tests and notebooks a base image without any registry.
dpkg -s busybox-static >/dev/null 2>&1 || need_apt+=(busybox-static)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ping_ok; then
  echo "docker daemon answers at ${DOCKER_HOST:-unix://$SOCK}"
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != "unix://$SOCK" ]; then
  echo "DOCKER_HOST=$DOCKER_HOST does not answer /_ping; not starting a local daemon for it" >&2
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "no Docker daemon answers and dockerd is not installed; run this script as root" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if [ "$(id -u)" != 0 ]; then
  echo "no Docker daemon answers at $SOCK; start it as root (sudo $0)" >&2
  exit 1
fi

# A stale socket or pid file from a dead daemon would make dockerd refuse to start.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  rm -f /var/run/docker.pid
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
  rm -f "$SOCK"
  # setsid: the daemon must outlive this script and the shell that ran it.
  setsid nohup dockerd --bridge=none --iptables=false -H "unix://$SOCK" >"$LOG" 2>&1 </dev/null &
fi

for _ in $(seq 1 120); do
  if ping_ok; then
    echo "docker daemon started (log: $LOG)"
    exit 0
  fi
  sleep 0.5
done
echo "dockerd did not answer /_ping within 60 s; see $LOG" >&2
tail -n 20 "$LOG" >&2 || true
exit 1
