# Redis from Debian's packages (redis-server), no persistence, loopback only.
redis_install() {
  command -v redis-server >/dev/null 2>&1 && return 0
  log "installing redis-server from Debian packages"
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
  fi
}
redis_start() {
  mkdir -p "$FERRY_INFRA/data/redis"
  # --daemonize no: start_bg keeps the pid of the server itself
  start_bg redis redis-server --bind 127.0.0.1 --port "$FERRY_REDIS_PORT" --save "" \
    --appendonly no --daemonize no --dir "$FERRY_INFRA/data/redis" --maxmemory 256mb \
    --maxmemory-policy allkeys-lru
}
redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p "$FERRY_REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
redis_describe() { echo "redis $(redis-server --version 2>/dev/null | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$FERRY_REDIS_PORT"; }
