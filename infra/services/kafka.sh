# Apache Kafka, single node in KRaft mode (broker and controller in one JVM), from
# Maven Central jars (infra/kafka/pom.xml), loopback only. No ZooKeeper, no Docker.
FERRY_KAFKA_VERSION="${FERRY_KAFKA_VERSION:-3.9.1}"
FERRY_KAFKA_HEAP="${FERRY_KAFKA_HEAP:--Xms64m -Xmx256m}"
# JIT and GC flags for a small local broker on a 2-core machine (override to tune)
FERRY_KAFKA_JVM_OPTS="${FERRY_KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1}"

kafka_libs() { echo "$FERRY_CACHE/kafka/$FERRY_KAFKA_VERSION/libs"; }
kafka_data() { echo "$FERRY_INFRA/data/kafka"; }

kafka_install() {
  local libs stamp; libs=$(kafka_libs)
  # the marker is written only after a complete download, and names the pom it came from
  stamp=$(sha1sum <"$FERRY_ROOT/infra/kafka/pom.xml" | cut -d' ' -f1)
  [ "$(cat "$libs/.complete" 2>/dev/null)" = "$stamp" ] && return 0
  command -v java >/dev/null 2>&1 || die "kafka needs java (17+) on PATH (Debian: openjdk-17-jre-headless)"
  command -v mvn >/dev/null 2>&1 || die "kafka needs mvn on PATH to fetch its jars (Debian: maven)"
  log "fetching kafka $FERRY_KAFKA_VERSION jars from Maven Central into $libs"
  rm -rf "$libs"; mkdir -p "$libs"
  # (Debian's mvn 3.8 prints colour resets even with -B; strip them)
  mvn -B -q -f "$FERRY_ROOT/infra/kafka/pom.xml" \
    -Dmaven.repo.local="$FERRY_CACHE/m2" -Dkafka.version="$FERRY_KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs" 2>&1 \
    | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' >&2 \
    || die "mvn could not fetch the kafka jars"
  ls "$libs"/kafka_2.13-"$FERRY_KAFKA_VERSION".jar >/dev/null 2>&1 || die "kafka jar missing in $libs"
  echo "$stamp" >"$libs/.complete"
}

# kafka_java_cmd LOG4J_FILE: sets KAFKA_JAVA, the JVM command line of the server and its tools
kafka_java_cmd() {
  # shellcheck disable=SC2206 # FERRY_KAFKA_HEAP and FERRY_KAFKA_JVM_OPTS hold several flags
  KAFKA_JAVA=(java $FERRY_KAFKA_HEAP $FERRY_KAFKA_JVM_OPTS -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$FERRY_ROOT/infra/kafka/$1"
    "-Dkafka.logs.dir=$FERRY_INFRA/logs" -cp "$(kafka_libs)/*")
}
# kafka_tool MAIN_CLASS ARGS...: run a Kafka tool in the foreground (quiet logging)
kafka_tool() { kafka_java_cmd tools-log4j.properties; "${KAFKA_JAVA[@]}" "$@"; }

kafka_start() {
  local data; data=$(kafka_data)
  mkdir -p "$data/log"
  sed -e "s|@PORT@|$FERRY_KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$FERRY_KAFKA_CONTROLLER_PORT|g" \
    -e "s|@DATA_DIR@|$data|g" "$FERRY_ROOT/infra/kafka/server.properties" >"$data/server.properties"
  # KRaft storage is formatted once with a cluster id kept next to the data
  if [ ! -s "$data/cluster.id" ]; then
    local id; id=$(kafka_tool kafka.tools.StorageTool random-uuid | grep -E '^[A-Za-z0-9_-]{22}$' | tail -n 1)
    [ -n "$id" ] || die "kafka: StorageTool random-uuid gave no cluster id"
    echo "$id" >"$data/cluster.id"
  fi
  if [ ! -f "$data/log/meta.properties" ]; then
    log "formatting kafka storage in $data/log"
    kafka_tool kafka.tools.StorageTool format --ignore-formatted \
      -t "$(cat "$data/cluster.id")" -c "$data/server.properties" >&2 || die "kafka storage format failed"
  fi
  kafka_java_cmd log4j.properties
  start_bg kafka "${KAFKA_JAVA[@]}" kafka.Kafka "$data/server.properties"
}

# the broker answers Kafka requests (controller elected, broker registered), not just a port
kafka_ready() {
  port_open 127.0.0.1 "$FERRY_KAFKA_PORT" || return 1
  FERRY_KAFKA_PORT="$FERRY_KAFKA_PORT" timeout 10 node "$FERRY_ROOT/infra/kafka/ready.mjs"
}

kafka_describe() {
  echo "kafka $FERRY_KAFKA_VERSION (KRaft, single node) on 127.0.0.1:$FERRY_KAFKA_PORT (controller $FERRY_KAFKA_CONTROLLER_PORT)"
}
