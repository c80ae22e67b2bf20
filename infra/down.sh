#!/usr/bin/env bash
# Stop the servers that infra/up.sh started, by their recorded pid (process group).
# Usage: infra/down.sh [service...]   (default: all)
source "$(dirname "$0")/lib.sh"
services=("$@"); [ ${#services[@]} -gt 0 ] || services=("${FERRY_SERVICES[@]}")
for s in "${services[@]}"; do
  pid=$(svc_pid "$s" || true)
  if [ -z "$pid" ]; then rm -f "$(pid_file "$s")"; continue; fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$s did not stop in 30s; sending SIGKILL to its process group"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$s")"
  log "$s stopped (pid $pid)"
done
