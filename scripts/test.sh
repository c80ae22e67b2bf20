#!/usr/bin/env bash
# The whole test suite: starts the local servers it needs (infra/up.sh, cached and
# idempotent), runs unit and integration tests, then stops only the servers it started.
# FERRY_KEEP_INFRA=1 leaves them running for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh
was_running=()
for s in "${FERRY_SERVICES[@]}"; do svc_pid "$s" >/dev/null && was_running+=("$s"); done
stop_started() {
  [ "${FERRY_KEEP_INFRA:-0}" = 1 ] && return 0
  local s r
  for s in "${FERRY_SERVICES[@]}"; do
    for r in "${was_running[@]:-}"; do [ "$s" = "$r" ] && continue 2; done
    bash infra/down.sh "$s" || true
  done
}
trap stop_started EXIT
bash infra/up.sh
# the tests start `ferry` (bin/ferry.js), which runs the compiled dist/
npm run build
unset FERRY_REQUIRE_SERVERS
npx vitest run "$@"
