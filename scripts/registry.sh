#!/usr/bin/env bash
# A private registry on the loopback for tests and demos: Debian's docker-registry
# (distribution 2.8) with htpasswd (bcrypt) authentication and TLS from a CA made here.
#
#   scripts/registry.sh start    # idempotent: install, make certs and user, run, wait
#   scripts/registry.sh stop     # stop exactly the processes `start` started (pidfiles)
#   scripts/registry.sh status   # exit 0 when both answer, 3 when not
#   scripts/registry.sh env      # JDB_REGISTRY=127.0.0.1:PORT, user, password, CA, log ...
#   scripts/registry.sh log      # the registry's own log
#
# Everything lives in $JDB_REGISTRY_DIR (default /var/lib/jupyter-dockerbuild/registry):
# its own config.yml (the Debian service and /etc/docker/registry are left alone, the
# package's service is never started), the storage, the CA and server certificate, the
# htpasswd file, the test credentials, the pidfile and the log. The daemon trusts the CA
# through /etc/docker/certs.d/127.0.0.1:PORT/ca.crt; dockerd 20.10 reads certs.d on every
# registry request, so it needs no restart. No config has a `proxy` section: these
# registries never pull through from anywhere. Run as root (apt-get, certs.d, /etc/hosts).
#
# dockerd treats every 127.0.0.0/8 registry as "insecure": it skips the certificate check
# there whatever certs.d says, so an untrusted certificate can't be shown on 127.0.0.1. A
# second instance, "untrusted", serves the same user on [::1]:PORT+1 under the name
# jdb-untrusted.test (an /etc/hosts line for ::1, an address dockerd does verify up to
# 27.x; from 28.0 ::1/128 is insecure by default too) with a certificate from a CA the
# daemon is never given: the tests' "TLS not trusted" case.
set -euo pipefail

PORT=${JDB_REGISTRY_PORT:-5443}
DIR=${JDB_REGISTRY_DIR:-/var/lib/jupyter-dockerbuild/registry}
CERTS_D=${JDB_CERTS_D:-/etc/docker/certs.d}
USER_NAME=jdb-test
UNTRUSTED_NAME=jdb-untrusted.test

die() {
  echo "registry.sh: $*" >&2
  exit 1
}

# The instances: main (127.0.0.1, trusted) and untrusted ([::1] by name, CA not given).
# Each sets: NAME ADDR LISTEN IDIR (its directory) SAN (for its certificate).
instance() {
  case "$1" in
    main)
      NAME=main ADDR=127.0.0.1:$PORT LISTEN=127.0.0.1:$PORT IDIR=$DIR
      SAN="IP:127.0.0.1,DNS:localhost"
      ;;
    untrusted)
      NAME=untrusted ADDR=$UNTRUSTED_NAME:$((PORT + 1)) LISTEN="[::1]:$((PORT + 1))"
      IDIR=$DIR/untrusted SAN="DNS:$UNTRUSTED_NAME,IP:::1"
      ;;
  esac
  PIDFILE=$IDIR/registry.pid LOG=$IDIR/registry.log CONFIG=$IDIR/config.yml
}

# The pid of the registry we started, if it is still that process (not a reused pid).
running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "serve $CONFIG" || return 1
  echo "$pid"
}

answers() {
  # 401 is the answer we want: TLS with our CA works and authentication is on.
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$IDIR/certs/ca.crt" \
    "https://$ADDR/v2/" 2>/dev/null) || return 1
  [ "$code" = 401 ]
}

install_packages() {
  local missing=()
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "needs ${missing[*]}: run as root (apt-get install)"
  echo "==> apt-get install ${missing[*]}"
  # The package's postinst would start its own service on :5000; we run ours instead.
  local policy_made=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_made=1
  fi
  local out rc=0
  out=$(apt-get update -qq 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" 2>&1) || rc=$?
  [ "$policy_made" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || die "apt-get install ${missing[*]} failed: $out"
  return 0
}

make_certs() {
  local c=$IDIR/certs
  mkdir -p "$c"
  chmod 700 "$c"
  if [ ! -s "$c/ca.crt" ] || [ ! -s "$c/ca.key" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -subj "/CN=jupyter-dockerbuild test registry CA ($NAME)" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$c/ca.key" -out "$c/ca.crt" 2>/dev/null
    rm -f "$c/server.crt"
  fi
  if [ ! -s "$c/server.crt" ] || [ ! -s "$c/server.key" ]; then
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=${ADDR%:*}" \
      -keyout "$c/server.key" -out "$c/server.csr" 2>/dev/null
    printf '%s\n' "subjectAltName=$SAN" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
      >"$c/server.ext"
    openssl x509 -req -in "$c/server.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" \
      -CAcreateserial -days 825 -sha256 -extfile "$c/server.ext" -out "$c/server.crt" 2>/dev/null
    rm -f "$c/server.csr" "$c/server.ext"
  fi
  chmod 644 "$c/ca.crt" "$c/server.crt"
  chmod 600 "$c/ca.key" "$c/server.key"
  if [ "$NAME" = main ]; then
    # The daemon's trust for this registry (re-copied: the CA may have been remade).
    mkdir -p "$CERTS_D/$ADDR"
    cp "$c/ca.crt" "$CERTS_D/$ADDR/ca.crt"
  else
    # Never trusted: that is this instance's whole point.
    rm -rf "${CERTS_D:?}/$ADDR"
  fi
}

make_user() {
  # The test user's password is made once and kept (mode 600) so demos and tests agree.
  umask 077
  mkdir -p "$DIR/auth"
  if [ ! -s "$DIR/credentials" ]; then
    printf 'user=%s\npassword=jdb-pw-%s\n' "$USER_NAME" "$(openssl rand -hex 12)" \
      >"$DIR/credentials"
    rm -f "$DIR/auth/htpasswd"
  fi
  if [ ! -s "$DIR/auth/htpasswd" ]; then
    # -i: the password comes on stdin, never on a command line another user could see.
    sed -n 's/^password=//p' "$DIR/credentials" |
      htpasswd -iBc -C 5 "$DIR/auth/htpasswd" "$USER_NAME" 2>/dev/null
  fi
  umask 022
}

hosts_entry() {
  # Only ever a loopback address; the name is looked up in /etc/hosts, never in DNS.
  if ! grep -qE "^::1[[:space:]].*\b$UNTRUSTED_NAME\b" /etc/hosts; then
    printf '::1 %s  # jupyter-dockerbuild scripts/registry.sh\n' "$UNTRUSTED_NAME" >>/etc/hosts
  fi
}

write_config() {
  local secret
  [ -s "$IDIR/http.secret" ] || openssl rand -hex 24 >"$IDIR/http.secret"
  secret=$(cat "$IDIR/http.secret")
  mkdir -p "$IDIR/storage"
  # No `proxy:` section (never a pull-through cache), no notifications, no debug port.
  cat >"$CONFIG.tmp" <<EOF
version: 0.1
log:
  level: info
  formatter: text
  fields:
    service: jdb-registry-$NAME
storage:
  filesystem:
    rootdirectory: $IDIR/storage
  delete:
    enabled: true
  maintenance:
    # Uploads cut off by the fault tests (dropped, cancelled) are purged after 2 hours.
    uploadpurging:
      enabled: true
      age: 2h
      interval: 2h
      dryrun: false
http:
  addr: "$LISTEN"
  secret: $secret
  tls:
    certificate: $IDIR/certs/server.crt
    key: $IDIR/certs/server.key
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: jupyter-dockerbuild
    path: $DIR/auth/htpasswd
health:
  storagedriver:
    enabled: false
EOF
  chmod 600 "$CONFIG.tmp"
  mv "$CONFIG.tmp" "$CONFIG"
}

start_one() {
  local pid t0 ms
  instance "$1"
  t0=$(date +%s%N)
  if pid=$(running_pid) && answers; then
    ms=$((($(date +%s%N) - t0) / 1000000))
    echo "registry ($NAME) already running at https://$ADDR (pid $pid, checked in ${ms}ms)"
    return 0
  fi
  mkdir -p "$IDIR"
  chmod 700 "$IDIR"
  make_certs
  write_config
  if ! pid=$(running_pid); then
    if curl -s -o /dev/null --max-time 2 -k "https://$ADDR/" 2>/dev/null ||
      curl -s -o /dev/null --max-time 2 "http://$ADDR/" 2>/dev/null; then
      die "something else already listens on $ADDR; set JDB_REGISTRY_PORT to another port"
    fi
    # setsid: the registry outlives this script and the shell that ran it.
    setsid nohup docker-registry serve "$CONFIG" >>"$LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PIDFILE"
  fi
  for _ in $(seq 1 100); do
    if answers; then
      ms=$((($(date +%s%N) - t0) / 1000000))
      printf 'registry (%s) running at https://%s (pid %s, ready in %d.%03ds; log: %s)\n' \
        "$NAME" "$ADDR" "$pid" $((ms / 1000)) $((ms % 1000)) "$LOG"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "registry.sh: the registry ($NAME) did not answer on https://$ADDR; its log:" >&2
  tail -n 20 "$LOG" >&2 || true
  exit 1
}

start() {
  install_packages
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  make_user
  hosts_entry
  start_one main
  start_one untrusted
}

stop_one() {
  local pid
  instance "$1"
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"
    echo "registry ($NAME) not running"
    return 0
  fi
  kill "$pid"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$PIDFILE"
  echo "registry ($NAME) stopped (pid $pid)"
}

status() {
  local pid rc=0 which
  for which in main untrusted; do
    instance "$which"
    if pid=$(running_pid) && answers; then
      echo "registry ($NAME) running at https://$ADDR (pid $pid)"
    else
      echo "registry ($NAME) not running (scripts/registry.sh start)"
      rc=3
    fi
  done
  return $rc
}

env_() {
  [ -s "$DIR/credentials" ] || die "no registry set up yet: run scripts/registry.sh start"
  instance main
  printf 'JDB_REGISTRY=%s\n' "$ADDR"
  printf 'JDB_REGISTRY_USER=%s\n' "$(sed -n 's/^user=//p' "$DIR/credentials")"
  printf 'JDB_REGISTRY_PASSWORD=%s\n' "$(sed -n 's/^password=//p' "$DIR/credentials")"
  printf 'JDB_REGISTRY_CA=%s\n' "$IDIR/certs/ca.crt"
  printf 'JDB_REGISTRY_CERT=%s\n' "$IDIR/certs/server.crt"
  printf 'JDB_REGISTRY_KEY=%s\n' "$IDIR/certs/server.key"
  printf 'JDB_REGISTRY_LOG=%s\n' "$LOG"
  instance untrusted
  printf 'JDB_UNTRUSTED_REGISTRY=%s\n' "$ADDR"
  printf 'JDB_UNTRUSTED_REGISTRY_LOG=%s\n' "$LOG"
}

case "${1:-}" in
  start) start ;;
  stop)
    stop_one untrusted
    stop_one main
    ;;
  status) status ;;
  env) env_ ;;
  log)
    for which in main untrusted; do
      instance "$which"
      cat "$LOG" 2>/dev/null || true
    done
    ;;
  *)
    echo "usage: $0 start|stop|status|env|log" >&2
    exit 2
    ;;
esac
