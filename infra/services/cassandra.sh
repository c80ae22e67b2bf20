# Apache Cassandra 5.0 single node from Maven Central jars (cassandra-all and its runtime
# dependencies, resolved by mvn), run on Java 17 with loopback addresses only.
# Static files live in infra/cassandra/: pom.xml, cassandra.yaml (template), jvm.options,
# logback.xml and ready.mjs (the CQL readiness probe).
CASSANDRA_VERSION="${FERRY_CASSANDRA_VERSION:-5.0.9}"
FERRY_CASSANDRA_STORAGE_PORT="${FERRY_CASSANDRA_STORAGE_PORT:-7000}"

cassandra_home() { echo "$FERRY_CACHE/cassandra/$CASSANDRA_VERSION"; }

cassandra_install() {
  local home; home=$(cassandra_home)
  [ -f "$home/.complete" ] && return 0
  command -v java >/dev/null 2>&1 || die "cassandra needs java (17) on PATH"
  command -v mvn >/dev/null 2>&1 || die "cassandra needs mvn on PATH to fetch its jars from Maven Central"
  (cd "$FERRY_ROOT" && node -e "require.resolve('cassandra-driver')" 2>/dev/null) ||
    die "cassandra_ready needs the npm package cassandra-driver; run npm ci first"
  log "downloading Apache Cassandra $CASSANDRA_VERSION jars from Maven Central"
  rm -rf "$home.tmp"; mkdir -p "$home.tmp"
  if ! mvn -B -q -f "$FERRY_ROOT/infra/cassandra/pom.xml" \
    -Dmaven.repo.local="$FERRY_CACHE/m2" -Dcassandra.version="$CASSANDRA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$home.tmp/lib" \
    >"$home.tmp/mvn.log" 2>&1; then
    tail -n 30 "$home.tmp/mvn.log" >&2
    die "mvn could not resolve org.apache.cassandra:cassandra-all:$CASSANDRA_VERSION (log: $home.tmp/mvn.log)"
  fi
  [ -f "$home.tmp/lib/cassandra-all-$CASSANDRA_VERSION.jar" ] || die "cassandra-all jar missing after mvn"
  compgen -G "$home.tmp/lib/jamm-*.jar" >/dev/null || die "jamm jar missing after mvn"
  touch "$home.tmp/.complete"
  rm -rf "$home" && mv "$home.tmp" "$home"
}

# The commit log's folder: FERRY_CASSANDRA_COMMITLOG_DIR, else on tmpfs (/dev/shm) when there is
# one, named after the data folder (cassandra.yaml says why), else in the data folder.
cassandra_commitlog_dir() {
  local data=$1
  if [ -n "${FERRY_CASSANDRA_COMMITLOG_DIR:-}" ]; then
    echo "$FERRY_CASSANDRA_COMMITLOG_DIR"
  elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
    echo "/dev/shm/ferry-cassandra-commitlog-$(printf '%s' "$data" | sha256sum | cut -c1-16)"
  else
    echo "$data/commitlog"
  fi
}

cassandra_start() {
  local home data conf jamm
  home=$(cassandra_home); data="$FERRY_INFRA/data/cassandra"; conf="$FERRY_ROOT/infra/cassandra"
  mkdir -p "$data"/{data,saved_caches,hints,cdc_raw} "$FERRY_INFRA/logs/cassandra"
  local commitlog; commitlog=$(cassandra_commitlog_dir "$data")
  # A commit log belongs to its data folder (commitlog.dir there names it): one left on tmpfs by
  # a data folder since removed would replay another node's mutations into this one, and a data
  # folder whose log was elsewhere (before, in the data folder) brings its unflushed writes along.
  local previous; previous=$(cat "$data/commitlog.dir" 2>/dev/null || echo "$data/commitlog")
  if [ "$previous" != "$commitlog" ]; then
    rm -rf "$commitlog"
    if [ -d "$previous" ]; then mv "$previous" "$commitlog"; fi
    echo "$commitlog" >"$data/commitlog.dir"
  fi
  mkdir -p "$commitlog"
  sed -e "s|__DATA_DIR__|$data|g" -e "s|__COMMITLOG_DIR__|$commitlog|g" \
    -e "s|__NATIVE_PORT__|$FERRY_CASSANDRA_PORT|g" \
    -e "s|__STORAGE_PORT__|$FERRY_CASSANDRA_STORAGE_PORT|g" "$conf/cassandra.yaml" >"$data/cassandra.yaml"
  jamm=$(compgen -G "$home/lib/jamm-*.jar" | head -n 1)
  # jvm.options: one option a line; "--add-opens a/b=C" lines are split into their two words
  local opts=() line words
  while IFS= read -r line; do
    line=${line%%#*}
    read -ra words <<<"$line"
    opts+=("${words[@]}")
  done <"$conf/jvm.options"
  # FERRY_CASSANDRA_JVM_OPTS (e.g. "-Xmx2g") comes last, so it overrides jvm.options
  # shellcheck disable=SC2206
  opts+=(${FERRY_CASSANDRA_JVM_OPTS:-})
  # Cassandra calls mlockall(): as root (CAP_IPC_LOCK) that pins the whole committed heap in RAM.
  # Without the capability it only logs a warning, as it does for any ordinary user.
  local wrap=()
  if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    wrap=(setpriv --bounding-set=-ipc_lock)
  fi
  start_bg cassandra "${wrap[@]}" "${JAVA_HOME:+$JAVA_HOME/bin/}java" "${opts[@]}" \
    "-javaagent:$jamm" \
    "-Dcassandra.config=file://$data/cassandra.yaml" \
    "-Dcassandra.storagedir=$data" \
    "-Dcassandra.logdir=$FERRY_INFRA/logs/cassandra" \
    "-Dlogback.configurationFile=file://$conf/logback.xml" \
    -cp "$home/lib/*" org.apache.cassandra.service.CassandraDaemon
}

# ready = CQL answers (SELECT release_version FROM system.local), not just an open port
cassandra_ready() {
  port_open 127.0.0.1 "$FERRY_CASSANDRA_PORT" &&
    FERRY_CASSANDRA_PORT="$FERRY_CASSANDRA_PORT" node "$FERRY_ROOT/infra/cassandra/ready.mjs" >/dev/null
}

cassandra_describe() {
  echo "cassandra $CASSANDRA_VERSION on 127.0.0.1:$FERRY_CASSANDRA_PORT (CQL; storage port $FERRY_CASSANDRA_STORAGE_PORT)"
}
