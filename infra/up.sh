#!/usr/bin/env bash
# Obtain (cached) and start Ferry's local servers on 127.0.0.1; harmless to run twice.
# Usage: infra/up.sh [service...]   (default: all)
source "$(dirname "$0")/lib.sh"
services=("$@"); [ ${#services[@]} -gt 0 ] || services=("${FERRY_SERVICES[@]}")
t0=$(date +%s)
for s in "${services[@]}"; do load_service "$s"; done
for s in "${services[@]}"; do
  ts=$(date +%s); "${s}_install"; log "$s installed ($(( $(date +%s) - ts ))s)"
done
started=()
for s in "${services[@]}"; do
  if svc_pid "$s" >/dev/null && "${s}_ready" >/dev/null 2>&1; then
    log "$s already running (pid $(svc_pid "$s"))"
    continue
  fi
  if ! svc_pid "$s" >/dev/null && "${s}_ready" >/dev/null 2>&1; then
    die "$s: something not started by these scripts already answers on its port; stop it or set its FERRY_*_PORT"
  fi
  svc_pid "$s" >/dev/null || { "${s}_start"; started+=("$s"); }
done
for s in "${services[@]}"; do
  wait_ready "$s" "${FERRY_READY_TIMEOUT:-180}"
  log "$s ready: $("${s}_describe")"
done
log "all ready in $(( $(date +%s) - t0 ))s (started: ${started[*]:-none})"
