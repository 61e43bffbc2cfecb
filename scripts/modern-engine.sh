#!/usr/bin/env bash
# A second Docker Engine of another Debian release, beside the host's, for the test matrix.
#
#   scripts/modern-engine.sh start  [ENGINE] [--containerd-store]
#   scripts/modern-engine.sh stop   [ENGINE] [--containerd-store]
#   scripts/modern-engine.sh status [ENGINE] [--containerd-store]
#   scripts/modern-engine.sh env    [ENGINE] [--containerd-store]   # DOCKER_HOST=unix://...
#   scripts/modern-engine.sh buildx [ENGINE]    # install docker-cli + docker-buildx (once)
#   scripts/modern-engine.sh exec   [ENGINE] [--containerd-store] -- CMD [ARG...]
#                                   # e.g. exec trixie -- docker buildx build ...
#
# ENGINE is a Debian suite whose docker.io is run: `trixie` (Debian 13, Docker 26.1, API
# 1.45), `sid` (28.x), `bookworm` (Debian 12, 20.10, API 1.41). The default is the other one
# of bookworm/trixie than the host runs (/etc/debian_version): a Debian 12 host gets trixie,
# a Debian 13 host gets bookworm. `--containerd-store` runs the same engine with the
# containerd image store (`"features": {"containerd-snapshotter": true}`), on a data root
# of its own.
#
# How (see the Debian docs of debootstrap; the binaries of a newer release need a newer
# glibc than the host's, hence a chroot, not copied binaries):
# - A `debootstrap --variant=minbase` chroot of ENGINE with `docker.io` installed by apt
#   inside it, from the Debian mirror of the host's own apt sources, made once and cached
#   in /var/cache/jupyter-dockerbuild/engines/ENGINE (about 450 MB); a second `start` on the
#   same machine skips it. If the host has no debootstrap, its .deb is fetched with
#   `apt-get download` and unpacked into the cache: the host's packages stay as they are.
# - The chroot is bound onto itself (dockerd needs its root to be a mount point), gets its
#   own proc, the host's /sys and /dev (rbind, rslave) and a tmpfs on its /run; the mounts
#   this script made are recorded and undone by `stop` once no engine of that chroot runs.
# - dockerd runs chrooted, with its own socket, data root, exec root, pidfile, config file
#   and cgroup parent (`/jdb-INSTANCE`), its own managed containerd, `--bridge=none
#   --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false`. Its socket is
#   group-owned by the host's docker group.
# - Nothing it does can reach the internet: its environment has HTTP(S)_PROXY set to a
#   closed loopback port (loopback registries like 127.0.0.1:5999 are never proxied) and
#   the chroot's resolv.conf names a closed loopback resolver. Tests and scripts still
#   never ask for a registry (`--pull never`, local FROMs); this is the safety net.
#   One exception to the proxy, by name: a `*.test` name (RFC 6761, no DNS answers it)
#   that the host's /etc/hosts gives a loopback address (scripts/registry.sh's
#   jdb-untrusted.test on ::1) is copied into the chroot's /etc/hosts, every other line
#   naming it dropped, and put in NO_PROXY at each start, so the engine reaches that
#   loopback service directly; with the resolver closed, such a name can only resolve to
#   the loopback address written there.
# - `stop` sends SIGTERM to the pid this script recorded (after checking it is a dockerd
#   rooted in that chroot), waits, unmounts what `start` mounted, and removes the empty
#   cgroups under its cgroup parent. The host's daemon, socket and packages are untouched.
# - `buildx` installs the chroot's own `docker-cli` and `docker-buildx` (the BuildKit CLI
#   plugin, to compare with `docker buildx build` on the same daemon), once (a marker file
#   in the cache), from the same mirror. It may run while that chroot's engine runs: apt
#   runs in a mount namespace of its own (`unshare -m`) where the host's resolv.conf is
#   bound over the chroot's closed one, so the running dockerd never sees a working
#   resolver, and it refuses if apt would upgrade or remove any installed package (the
#   running engine's binaries stay as they are). `exec` runs a command in the chroot
#   against the running engine: `DOCKER_HOST` is its socket (or `JDB_EXEC_DOCKER_HOST`,
#   a path as the chroot sees it), `BUILDX_BUILDER=default` (the daemon's own BuildKit,
#   the `docker` driver: a `docker-container` builder would pull moby/buildkit), the same
#   closed proxy as dockerd, and `DOCKER_BUILDKIT` passed through.
set -euo pipefail

CACHE=${JDB_ENGINE_CACHE:-/var/cache/jupyter-dockerbuild}
STATE=${JDB_ENGINE_STATE:-/run/jupyter-dockerbuild}
LOGDIR=${JDB_ENGINE_LOGDIR:-/var/log}
# Bump when the chroot's content changes, so cached chroots are re-provisioned.
CHROOT_FORMAT=1
BLACKHOLE=http://127.0.0.1:9

usage() {
  echo "usage: $0 start|stop|status|env|buildx [ENGINE] [--containerd-store]" >&2
  echo "       $0 exec [ENGINE] [--containerd-store] -- CMD [ARG...]" >&2
  exit 2
}

host_suite() {
  local v
  v=$(cut -d. -f1 /etc/debian_version 2>/dev/null || true)
  case "$v" in
    12) echo bookworm ;;
    13) echo trixie ;;
    14) echo forky ;;
    *) # testing/unstable hosts say e.g. "trixie/sid"
      v=$(cut -d/ -f1 /etc/debian_version 2>/dev/null || true)
      echo "${v:-unknown}" ;;
  esac
}

default_engine() {
  case "$(host_suite)" in
    bookworm) echo trixie ;;
    *) echo bookworm ;;
  esac
}

action=${1:-}
[ -n "$action" ] || usage
shift
engine=""
store=classic
cmd=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) [ "$action" = exec ] || usage; shift; cmd=("$@"); break ;;
    --containerd-store) store=containerd ;;
    -*) usage ;;
    *) [ -z "$engine" ] || usage; engine=$1 ;;
  esac
  shift
done
[ "$action" != exec ] || [ ${#cmd[@]} -gt 0 ] || usage
engine=${engine:-$(default_engine)}
case "$engine" in
  *[!a-z0-9-]* | "") echo "bad ENGINE name: $engine" >&2; exit 2 ;;
esac
inst=$engine
[ "$store" = containerd ] && inst=$engine-cs

ROOT=$(realpath -m "$CACHE/engines/$engine")
READY=$CACHE/engines/$engine.ready
PIDFILE=$STATE/$inst.pid
MOUNTS=$STATE/$engine.mounts
LOG=$LOGDIR/jupyter-dockerbuild-engine-$inst.log
# Paths as the chrooted dockerd sees them (short: containerd's socket lives under the
# exec root, and a unix socket path is at most 107 bytes).
IN_RUN=/run/jdb/$inst
IN_SOCK=$IN_RUN/docker.sock
IN_DATA=/var/lib/jdb-docker/$inst
IN_CONFIG=/etc/docker/jdb-$inst.json
SOCK=$ROOT$IN_SOCK
CGROUP_PARENT=/jdb-$inst

ping_ok() {
  curl -fsS --max-time 3 --unix-socket "$SOCK" http://docker/_ping >/dev/null 2>&1
}

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "$0 $action needs root (debootstrap, mounts, dockerd)" >&2
    exit 1
  fi
}

# The pid we recorded, if it is still the dockerd we started in this chroot.
our_pid() {
  local pid exe
  [ -f "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  # A stopped daemon lingers as a zombie until reaped: that is not running.
  [ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  [ "$(readlink "/proc/$pid/root" 2>/dev/null || true)" = "$ROOT" ] || return 1
  case "$exe" in */dockerd) ;; *) return 1 ;; esac
  echo "$pid"
}

# Whether PID runs (a zombie does not).
alive() {
  [ -n "$1" ] && [ -d "/proc/$1" ] &&
    [ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" != Z ]
}

# Any dockerd of ours (either store) still running in this chroot?
chroot_in_use() {
  local other
  for other in "$STATE/$engine.pid" "$STATE/$engine-cs.pid"; do
    [ "$other" = "$PIDFILE" ] && continue
    [ -f "$other" ] || continue
    local pid
    pid=$(cat "$other")
    [ -d "/proc/$pid" ] && [ "$(readlink "/proc/$pid/root" 2>/dev/null || true)" = "$ROOT" ] && return 0
  done
  return 1
}

# The Debian mirror of the host's apt sources (deb822 or one-line format).
host_mirror() {
  if [ -n "${JDB_DEBIAN_MIRROR:-}" ]; then
    echo "$JDB_DEBIAN_MIRROR"
    return
  fi
  local suite url
  suite=$(host_suite)
  url=$(
    {
      for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v s="$suite" '
          /^[[:space:]]*$/ { if (u && ok) exit; u = ""; ok = 0; next }
          tolower($1) == "uris:" { u = $2 }
          tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
          END { if (u && ok) print u }
        ' "$f"
      done
      cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk -v s="$suite" '$1 == "deb" {
          i = 2
          if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }  # [options]
          if ($(i + 1) == s) print $i
        }'
    } | grep -v -e security -e '^$' | head -n 1
  )
  if [ -z "$url" ]; then
    echo "no Debian mirror for '$suite' in the host's apt sources; set JDB_DEBIAN_MIRROR" >&2
    exit 1
  fi
  echo "$url"
}

debootstrap_cmd() {
  if command -v debootstrap >/dev/null 2>&1; then
    echo debootstrap
    return
  fi
  # Unpacked, not installed: the host's packages stay as they are.
  local tool=$CACHE/tools/debootstrap
  if [ ! -x "$tool/usr/sbin/debootstrap" ]; then
    mkdir -p "$CACHE/tools/debs"
    (cd "$CACHE/tools/debs" && rm -f debootstrap_*.deb &&
      { apt-get download -q debootstrap >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get download -q debootstrap >/dev/null; }; })
    rm -rf "$tool"
    dpkg-deb -x "$CACHE"/tools/debs/debootstrap_*.deb "$tool"
  fi
  echo "env DEBOOTSTRAP_DIR=$tool/usr/share/debootstrap $tool/usr/sbin/debootstrap"
}

# Mount the chroot's filesystems (each only if not mounted yet); record what we mounted.
is_mounted() { awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; }

mount_chroot() {
  mkdir -p "$STATE"
  touch "$MOUNTS"
  if ! is_mounted "$ROOT"; then
    # dockerd and the classic builder's COPY need the root to be a mount of its own.
    mount --bind "$ROOT" "$ROOT"
    mount --make-private "$ROOT"
    echo "$ROOT" >>"$MOUNTS"
  fi
  if ! is_mounted "$ROOT/proc"; then
    mount -t proc proc "$ROOT/proc"
    echo "$ROOT/proc" >>"$MOUNTS"
  fi
  local d
  for d in sys dev; do
    if ! is_mounted "$ROOT/$d"; then
      mount --rbind "/$d" "$ROOT/$d"
      mount --make-rslave "$ROOT/$d"
      echo "$ROOT/$d" >>"$MOUNTS"
    fi
  done
  if ! is_mounted "$ROOT/run"; then
    mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$ROOT/run"
    echo "$ROOT/run" >>"$MOUNTS"
  fi
}

umount_chroot() {
  [ -f "$MOUNTS" ] || return 0
  local m
  # Reverse order: /run, /dev, /sys, /proc, then the root bind.
  tac "$MOUNTS" | while read -r m; do
    [ -n "$m" ] || continue
    if is_mounted "$m"; then
      umount -R "$m" 2>/dev/null || umount -R -l "$m"
    fi
  done
  rm -f "$MOUNTS"
}

# The cached chroot with docker.io, made once.
ensure_chroot() {
  local want
  want="format=$CHROOT_FORMAT suite=$engine"
  if [ -f "$READY" ] && [ "$(head -n 1 "$READY")" = "$want" ] && [ -x "$ROOT/usr/sbin/dockerd" ]; then
    return 0
  fi
  local t0 mirror
  t0=$(date +%s)
  mirror=$(host_mirror)
  if is_mounted "$ROOT" || is_mounted "$ROOT/proc"; then
    echo "$ROOT is mounted but not ready; run '$0 stop $engine' first" >&2
    exit 1
  fi
  mkdir -p "$CACHE/engines"
  if [ ! -f "$CACHE/engines/$engine.debootstrapped" ]; then
    echo "==> debootstrap --variant=minbase $engine from $mirror (once; cached in $ROOT)"
    rm -rf "$ROOT"
    local ds keyring
    ds=$(debootstrap_cmd)
    # Debian 13's keyring package names it .pgp (and may keep a .gpg link).
    for keyring in /usr/share/keyrings/debian-archive-keyring.{gpg,pgp} ""; do
      [ -z "$keyring" ] || [ -f "$keyring" ] && break
    done
    [ -n "$keyring" ] || { echo "no Debian archive keyring in /usr/share/keyrings" >&2; exit 1; }
    # shellcheck disable=SC2086  # ds may be "env DEBOOTSTRAP_DIR=... debootstrap"
    $ds --variant=minbase --keyring="$keyring" \
      "$engine" "$ROOT" "$mirror" >"$CACHE/engines/$engine.debootstrap.log" 2>&1 || {
      tail -n 20 "$CACHE/engines/$engine.debootstrap.log" >&2
      echo "debootstrap failed; see $CACHE/engines/$engine.debootstrap.log" >&2
      exit 1
    }
    touch "$CACHE/engines/$engine.debootstrapped"
  fi
  echo "==> apt-get install docker.io in the $engine chroot"
  # Nothing may start inside the chroot while installing.
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod 755 "$ROOT/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  # sid's InRelease on a snapshot mirror may be past its Valid-Until.
  echo 'Acquire::Check-Valid-Until "false";' >"$ROOT/etc/apt/apt.conf.d/99jdb-no-valid-until"
  mount -t proc proc "$ROOT/proc"
  trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT
  local rc=0
  {
    chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
      apt-get update -q &&
      chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends docker.io &&
      chroot "$ROOT" apt-get clean
  } >"$CACHE/engines/$engine.apt.log" 2>&1 || rc=$?
  umount "$ROOT/proc"
  trap - EXIT
  if [ "$rc" != 0 ]; then
    tail -n 20 "$CACHE/engines/$engine.apt.log" >&2
    echo "installing docker.io in the chroot failed; see $CACHE/engines/$engine.apt.log" >&2
    exit 1
  fi
  # From now on the chroot resolves nothing: a closed loopback resolver.
  echo "nameserver 127.0.0.9" >"$ROOT/etc/resolv.conf"
  mkdir -p "$ROOT/etc/docker"
  {
    echo "$want"
    chroot "$ROOT" dpkg-query -W docker.io containerd runc
  } >"$READY"
  echo "==> $engine chroot ready in $(($(date +%s) - t0)) s"
}

BUILDX_PACKAGES="docker-cli docker-buildx"
BUILDX_READY=$CACHE/engines/$engine.buildx

# docker-cli and docker-buildx in the chroot, installed once; safe while its engine runs.
ensure_buildx() {
  ensure_chroot
  if [ -f "$BUILDX_READY" ] && [ -x "$ROOT/usr/libexec/docker/cli-plugins/docker-buildx" ] &&
    [ -x "$ROOT/usr/bin/docker" ]; then
    return 0
  fi
  echo "==> apt-get install $BUILDX_PACKAGES in the $engine chroot"
  local log=$CACHE/engines/$engine.buildx.log
  [ -x "$ROOT/usr/sbin/policy-rc.d" ] || {
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$ROOT/usr/sbin/policy-rc.d"
  }
  # In a private mount namespace: the host's resolver bound over the chroot's closed one
  # and a proc of its own, seen by apt only, never by a dockerd running in the chroot.
  # shellcheck disable=SC2016  # expanded by the inner shell
  local inner='
    set -e
    mount --bind /etc/resolv.conf "$ROOT/etc/resolv.conf"
    grep -q " $ROOT/proc " /proc/self/mounts || mount -t proc proc "$ROOT/proc"
    inch() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      DEBIAN_FRONTEND=noninteractive "$@"; }
    apt="apt-get -q -o Acquire::Check-Valid-Until=false"
    plan=$(inch $apt install -s --no-install-recommends $PKGS)
    printf "%s\n" "$plan"
    # An upgrade ("Inst pkg [old] (new)") or a removal could replace the binaries of a
    # running engine: refuse rather than touch them.
    if printf "%s\n" "$plan" | grep -Eq "^(Remv |Inst [^ ]+ \[)"; then
      echo "apt would upgrade or remove installed packages in the chroot; not installing" >&2
      exit 3
    fi
    inch $apt install -y --no-install-recommends --no-upgrade $PKGS ||
      { inch $apt update && inch $apt install -y --no-install-recommends --no-upgrade $PKGS; }
    inch apt-get clean
  '
  local rc=0
  ROOT=$ROOT PKGS=$BUILDX_PACKAGES unshare -m --propagation private sh -c "$inner" \
    >"$log" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    tail -n 20 "$log" >&2
    echo "installing $BUILDX_PACKAGES in the chroot failed; see $log" >&2
    exit 1
  fi
  chroot "$ROOT" dpkg-query -W $BUILDX_PACKAGES >"$BUILDX_READY"
  echo "==> $(tr '\t\n' '  ' <"$BUILDX_READY")in the $engine chroot"
}

# CMD in the chroot, against the running engine of this instance.
exec_in() {
  need_root
  ensure_buildx
  if ! our_pid >/dev/null || ! ping_ok; then
    local flag=""
    [ "$store" = classic ] || flag=" --containerd-store"
    echo "the $inst engine is not running; start it with '$0 start $engine$flag'" >&2
    exit 1
  fi
  local host=unix://$IN_SOCK
  if [ -n "${JDB_EXEC_DOCKER_HOST:-}" ]; then host=$JDB_EXEC_DOCKER_HOST; fi
  local extra=()
  [ -z "${DOCKER_BUILDKIT:-}" ] || extra+=(DOCKER_BUILDKIT="$DOCKER_BUILDKIT")
  exec chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DOCKER_HOST="$host" BUILDX_BUILDER=default \
    HTTP_PROXY=$BLACKHOLE HTTPS_PROXY=$BLACKHOLE http_proxy=$BLACKHOLE https_proxy=$BLACKHOLE \
    NO_PROXY=localhost,127.0.0.1,::1 no_proxy=localhost,127.0.0.1,::1 \
    "${extra[@]}" "${cmd[@]}"
}

host_docker_gid() {
  getent group docker | cut -d: -f3
}

HOSTS_MARK="# jupyter-dockerbuild: a loopback .test name from the host's /etc/hosts"

# "ADDRESS NAME" for every *.test name the host's /etc/hosts maps to 127.0.0.0/8 or ::1.
loopback_test_names() {
  awk '{ sub(/#.*/, "") }
    $1 == "::1" || $1 ~ /^127\.[0-9]+\.[0-9]+\.[0-9]+$/ {
      for (i = 2; i <= NF; i++) {
        n = tolower($i)
        if (n ~ /^[a-z0-9-]+(\.[a-z0-9-]+)*\.test$/) print $1, n
      }
    }' /etc/hosts 2>/dev/null || true
}

# The chroot's /etc/hosts gets those lines, and no other line naming them (earlier ones
# of ours included); prints the names.
sync_loopback_names() {
  local hosts=$ROOT/etc/hosts pairs
  pairs=$(loopback_test_names)
  {
    awk -v pairs="$pairs" '
      BEGIN { n = split(pairs, w, /[ \n]/); for (i = 2; i <= n; i += 2) ours[w[i]] = 1 }
      { line = $0; sub(/#.*/, "", line); split(line, f, /[ \t]+/)
        for (k in f) if (tolower(f[k]) in ours) next
        if (index($0, "# jupyter-dockerbuild: ")) next
        print }' "$hosts" 2>/dev/null || true
    [ -z "$pairs" ] || printf '%s\n' "$pairs" | while read -r addr name; do
      printf '%s %s  %s\n' "$addr" "$name" "$HOSTS_MARK"
    done
  } >"$hosts.jdb-tmp"
  mv "$hosts.jdb-tmp" "$hosts"
  [ -z "$pairs" ] || printf '%s\n' "$pairs" | awk '{ print $2 }' | sort -u
}

start() {
  need_root
  ensure_chroot
  local pid
  if pid=$(our_pid); then
    if ping_ok; then
      echo "$inst engine already running (pid $pid) at unix://$SOCK"
      return 0
    fi
  fi
  mount_chroot
  if ! pid=$(our_pid); then
    rm -f "$PIDFILE"
    if [ "$store" = containerd ]; then
      echo '{"features": {"containerd-snapshotter": true}}' >"$ROOT$IN_CONFIG"
    else
      echo '{}' >"$ROOT$IN_CONFIG"
    fi
    mkdir -p "$ROOT$IN_RUN" "$ROOT$IN_DATA"
    rm -f "$SOCK" "$ROOT$IN_RUN/dockerd.pid"
    local group=()
    if gid=$(host_docker_gid) && [ -n "$gid" ]; then group=(--group "$gid"); fi
    local no_proxy=localhost,127.0.0.1,::1 name
    for name in $(sync_loopback_names); do no_proxy+=",$name"; done
    # No job control here, so the background job is no group leader and setsid does not
    # fork: $! is chroot's pid, which execs dockerd.
    setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
      HTTP_PROXY=$BLACKHOLE HTTPS_PROXY=$BLACKHOLE http_proxy=$BLACKHOLE https_proxy=$BLACKHOLE \
      NO_PROXY="$no_proxy" no_proxy="$no_proxy" \
      chroot "$ROOT" /usr/sbin/dockerd \
      --config-file "$IN_CONFIG" \
      -H "unix://$IN_SOCK" \
      --data-root "$IN_DATA" \
      --exec-root "$IN_RUN/exec" \
      --pidfile "$IN_RUN/dockerd.pid" \
      --cgroup-parent "$CGROUP_PARENT" \
      --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
      --userland-proxy=false \
      "${group[@]}" \
      >"$LOG" 2>&1 </dev/null 9>&- &
    echo $! >"$PIDFILE"
  fi
  local t0 launched
  t0=${EPOCHREALTIME/[.,]/}
  launched=$(cat "$PIDFILE")
  for _ in $(seq 1 240); do
    if ping_ok; then
      local ms=$(((${EPOCHREALTIME/[.,]/} - t0) / 1000))
      echo "$inst engine answers /_ping after $ms ms (pid $launched, log $LOG)"
      return 0
    fi
    # Alive, not our_pid: for a moment it is still setsid/env/chroot, not yet dockerd.
    alive "$launched" || break
    sleep 0.25
  done
  echo "the $inst engine did not answer /_ping; see $LOG" >&2
  tail -n 20 "$LOG" >&2 || true
  stop
  exit 1
}

remove_cgroups() {
  # Deepest first; rmdir only removes empty cgroups (no processes, no children).
  local base d
  for base in /sys/fs/cgroup /sys/fs/cgroup/*; do
    d=$base$CGROUP_PARENT
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

stop() {
  need_root
  local pid recorded
  # Just launched, it may not have exec'd dockerd yet (setsid, env, chroot ROOT ...).
  recorded=$(cat "$PIDFILE" 2>/dev/null || true)
  for _ in $(seq 1 8); do
    our_pid >/dev/null && break
    if ! alive "$recorded" || ! tr '\0' ' ' <"/proc/$recorded/cmdline" | grep -qF " $ROOT "; then
      break
    fi
    sleep 0.25
  done
  if pid=$(our_pid); then
    kill -TERM "$pid"
    for _ in $(seq 1 120); do
      our_pid >/dev/null || break
      sleep 0.25
    done
    if our_pid >/dev/null; then
      echo "dockerd $pid did not stop within 30 s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      local cpid
      cpid=$(cat "$ROOT$IN_RUN/exec/containerd/containerd.pid" 2>/dev/null || true)
      if [ -n "$cpid" ] && [ "$(readlink "/proc/$cpid/root" 2>/dev/null)" = "$ROOT" ]; then
        kill -TERM "$cpid" 2>/dev/null || true
      fi
    fi
    echo "$inst engine stopped (pid $pid)"
  else
    echo "$inst engine not running"
  fi
  rm -f "$PIDFILE"
  if ! chroot_in_use; then
    umount_chroot
  fi
  remove_cgroups
}

status() {
  local pid
  if pid=$(our_pid) && ping_ok; then
    echo "$inst engine running (pid $pid) at unix://$SOCK: $(
      curl -fsS --max-time 3 --unix-socket "$SOCK" http://docker/version | python3 -c \
        'import json, sys; v = json.load(sys.stdin); print("docker", v["Version"] + ", API", v["ApiVersion"])'
    )"
    return 0
  fi
  if [ -f "$READY" ]; then
    echo "$inst engine not running (chroot cached: $(sed -n 's/^docker.io\t/docker.io /p' "$READY"))"
  else
    echo "$inst engine not running (no chroot yet)"
  fi
  return 3
}

# One start or stop at a time per chroot (they share its mounts).
lock() {
  need_root
  mkdir -p "$STATE"
  exec 9>"$STATE/$engine.lock"
  flock 9
}

case "$action" in
  start) lock && start ;;
  stop) lock && stop ;;
  buildx) lock && ensure_buildx ;;
  # The lock only while installing: a long command must not hold up start or stop.
  exec) lock && ensure_buildx && exec 9>&- && exec_in ;;
  status) status ;;
  env)
    # DOCKER_HOST for every client; the chroot and instance for tests that start a
    # dockerd of their own (the TLS tests start theirs in the same chroot).
    echo "DOCKER_HOST=unix://$SOCK"
    echo "JUPYTER_DOCKERBUILD_ENGINE=$inst"
    echo "JUPYTER_DOCKERBUILD_ENGINE_ROOT=$ROOT"
    ;;
  *) usage ;;
esac
