#!/usr/bin/env bash
# Show each local server: pid, ready or not, resident memory, log. --json for scripts.
source "$(dirname "$0")/lib.sh"
json=0; [ "${1:-}" = "--json" ] && { json=1; shift; }
services=("$@"); [ ${#services[@]} -gt 0 ] || services=("${FERRY_SERVICES[@]}")
bad=0; rows=()
for s in "${services[@]}"; do
  load_service "$s"
  pid=$(svc_pid "$s" || true)
  if "${s}_ready" >/dev/null 2>&1; then state=ready; else state=down; bad=1; fi
  mem=0; [ -n "$pid" ] && mem=$(( $(rss_kb "$pid") / 1024 ))
  rows+=("$s|${pid:--}|$state|$mem|$("${s}_describe")|$(log_file "$s")")
done
if [ $json = 1 ]; then
  printf '['; sep=''
  for r in "${rows[@]}"; do
    IFS='|' read -r n p st m d l <<<"$r"
    printf '%s{"service":"%s","pid":%s,"state":"%s","rss_mb":%s,"describe":"%s","log":"%s"}' \
      "$sep" "$n" "$( [ "$p" = - ] && echo null || echo "$p")" "$st" "$m" "$d" "$l"; sep=','
  done
  printf ']\n'
else
  printf '%-10s %-8s %-6s %8s  %s\n' SERVICE PID STATE RSS_MB DETAILS
  for r in "${rows[@]}"; do
    IFS='|' read -r n p st m d l <<<"$r"
    printf '%-10s %-8s %-6s %8s  %s  (log %s)\n' "$n" "$p" "$st" "$m" "$d" "$l"
  done
fi
exit $bad
