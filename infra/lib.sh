#!/usr/bin/env bash
# Shared helpers for Ferry's local servers. Every service lives in
# infra/services/<name>.sh and defines:
#   <name>_install   obtain binaries into $FERRY_CACHE (idempotent, cached)
#   <name>_start     start in the background with start_bg (data under $FERRY_INFRA)
#   <name>_ready     exit 0 when the service answers
#   <name>_describe  one line: version and ports
# Processes are started in their own session; their pid is kept in
# $FERRY_INFRA/run/<name>.pid and only that process group is ever stopped.
set -euo pipefail

FERRY_ROOT="${FERRY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
FERRY_CACHE="${FERRY_CACHE:-$FERRY_ROOT/.cache}"
FERRY_INFRA="${FERRY_INFRA:-$FERRY_ROOT/.infra}"
FERRY_SERVICES=(cassandra kafka temporal bigquery redis)
mkdir -p "$FERRY_CACHE" "$FERRY_INFRA/run" "$FERRY_INFRA/logs" "$FERRY_INFRA/data"

# Ports (override with environment variables).
FERRY_KAFKA_PORT="${FERRY_KAFKA_PORT:-9092}"
FERRY_KAFKA_CONTROLLER_PORT="${FERRY_KAFKA_CONTROLLER_PORT:-9093}"
FERRY_CASSANDRA_PORT="${FERRY_CASSANDRA_PORT:-9042}"
FERRY_TEMPORAL_PORT="${FERRY_TEMPORAL_PORT:-7233}"
FERRY_TEMPORAL_UI_PORT="${FERRY_TEMPORAL_UI_PORT:-8233}"
FERRY_BIGQUERY_PORT="${FERRY_BIGQUERY_PORT:-9050}"
FERRY_BIGQUERY_GRPC_PORT="${FERRY_BIGQUERY_GRPC_PORT:-9060}"
FERRY_BIGQUERY_PROJECT="${FERRY_BIGQUERY_PROJECT:-ferry-local}"
FERRY_REDIS_PORT="${FERRY_REDIS_PORT:-6379}"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }

pid_file() { echo "$FERRY_INFRA/run/$1.pid"; }
log_file() { echo "$FERRY_INFRA/logs/$1.log"; }

# pid of a service we started, if it is still alive
svc_pid() {
  local f; f=$(pid_file "$1")
  [ -f "$f" ] || return 1
  local pid; pid=$(cat "$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # a process killed a moment ago (SIGKILL in a fault test) may linger as a zombie until its
  # parent reaps it: that is not a running server
  local state; state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)
  [ "$state" != Z ] || return 1
  echo "$pid"
}

# start_bg NAME CMD...: run CMD detached in its own session, log to the service log
start_bg() {
  local name=$1; shift
  local log; log=$(log_file "$name")
  : >"$log"
  setsid "$@" >>"$log" 2>&1 < /dev/null &
  echo $! >"$(pid_file "$name")"
}

# port_open HOST PORT
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_ready NAME TIMEOUT_SECONDS: poll <name>_ready until it passes
wait_ready() {
  local name=$1 timeout=$2 waited=0
  while ! "${name}_ready" >/dev/null 2>&1; do
    if ! svc_pid "$name" >/dev/null; then
      die "$name exited before it was ready; its log is $(log_file "$name") (last lines below)
$(tail -n 20 "$(log_file "$name")" 2>/dev/null)"
    fi
    if [ "$waited" -ge "$timeout" ]; then
      die "$name was not ready after ${timeout}s; its log is $(log_file "$name")"
    fi
    sleep 1; waited=$((waited + 1))
  done
}

# rss_kb PID: resident memory of a process and its descendants
rss_kb() {
  local total=0 p
  for p in $1 $(pgrep -s "$1" 2>/dev/null || true); do
    local kb; kb=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0}))
  done
  # pgrep -s lists the session including the leader; avoid counting it twice
  local lead; lead=$(awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
  echo $((total - ${lead:-0}))
}

load_service() {
  local name=$1 f="$FERRY_ROOT/infra/services/$1.sh"
  [ -f "$f" ] || die "unknown service '$name' (known: ${FERRY_SERVICES[*]})"
  # shellcheck disable=SC1090
  source "$f"
}
