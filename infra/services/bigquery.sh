# BigQuery emulator: local-bigquery (PyPI, DuckDB + DuckLake underneath) in a venv under
# $FERRY_CACHE/bigquery, REST on $FERRY_BIGQUERY_PORT and gRPC (Storage Read/Write API) on
# $FERRY_BIGQUERY_GRPC_PORT, loopback only. Data is kept under $FERRY_INFRA/data/bigquery
# (DuckLake catalog + parquet files); delete that folder for a clean slate.
# local-bigquery needs Python >= 3.13; set FERRY_BIGQUERY_PYTHON to choose the interpreter.
# See docs/bigquery-emulator.md for what works through @google-cloud/bigquery.
FERRY_BIGQUERY_VERSION=0.4.0
FERRY_BIGQUERY_DIR="$FERRY_CACHE/bigquery"

# DuckDB looks for extensions under $HOME/.duckdb/extensions and would download missing ones
# from a host this machine cannot reach; the emulator gets its own HOME inside the cache where
# the extensions that PyPI ships (ducklake, icu, spatial) are linked in.
_bigquery_home() { echo "$FERRY_BIGQUERY_DIR/home"; }

# First interpreter that is Python 3.13, 3.14 or 3.15 (local-bigquery's range).
_bigquery_python() {
  local c
  local -a candidates=()
  [ -n "${FERRY_BIGQUERY_PYTHON:-}" ] && candidates+=("$FERRY_BIGQUERY_PYTHON")
  candidates+=(python3.13 python3.14 python3.15)
  local pyroot; pyroot=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for c in "$pyroot"/versions/3.1[345]*/bin/python3; do [ -x "$c" ] && candidates+=("$c"); done
  candidates+=(python3)
  for c in "${candidates[@]}"; do
    if "$c" -c 'import sys; sys.exit(0 if (3, 13) <= sys.version_info[:2] < (3, 16) else 1)' >/dev/null 2>&1; then
      command -v "$c" 2>/dev/null || echo "$c"
      return 0
    fi
  done
  return 1
}

bigquery_install() {
  local req="$FERRY_ROOT/infra/bigquery/requirements.txt" venv="$FERRY_BIGQUERY_DIR/venv"
  local stamp="$FERRY_BIGQUERY_DIR/installed" want
  want="local-bigquery $FERRY_BIGQUERY_VERSION $(cksum <"$req" | cut -d' ' -f1)"
  if [ -x "$venv/bin/local-bigquery" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  local py
  py=$(_bigquery_python) || die "bigquery: local-bigquery needs Python 3.13-3.15 (none found; set FERRY_BIGQUERY_PYTHON)"
  log "installing local-bigquery $FERRY_BIGQUERY_VERSION into $venv (python: $py)"
  rm -rf "$venv" "$stamp"
  mkdir -p "$FERRY_BIGQUERY_DIR"
  "$py" -m venv "$venv"
  # --no-deps: the requirements file is the complete, checked set (it holds duckdb below
  # local-bigquery's declared minimum on purpose, see the file's header)
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$req" >&2
  # Link the PyPI-shipped extensions where DuckDB looks for them (version and platform of this duckdb).
  "$venv/bin/python" - "$(_bigquery_home)" <<'PY'
import importlib, pathlib, sys
import duckdb
con = duckdb.connect()
platform = con.execute("PRAGMA platform").fetchone()[0]
version = duckdb.__version__ if duckdb.__version__.startswith("v") else "v" + duckdb.__version__
dest = pathlib.Path(sys.argv[1]) / ".duckdb" / "extensions" / version / platform
dest.mkdir(parents=True, exist_ok=True)
for name in ("ducklake", "icu", "spatial"):
    pkg = pathlib.Path(importlib.import_module(f"duckdb_extension_{name}").__file__).parent
    src = pkg / "extensions" / version / f"{name}.duckdb_extension"
    if not src.is_file():
        sys.exit(f"{src} is missing: duckdb-extension-{name} does not match duckdb {version}")
    link = dest / src.name
    link.unlink(missing_ok=True)
    link.symlink_to(src)
PY
  echo "$want" >"$stamp"
}

bigquery_start() {
  local data="$FERRY_INFRA/data/bigquery"
  mkdir -p "$data"
  # env execs the server, so start_bg's pid is the server's own; HOME is changed for it alone
  start_bg bigquery env HOME="$(_bigquery_home)" PYTHONUNBUFFERED=1 \
    "$FERRY_BIGQUERY_DIR/venv/bin/local-bigquery" serve --host 127.0.0.1 \
    --port "$FERRY_BIGQUERY_PORT" --grpc-port "$FERRY_BIGQUERY_GRPC_PORT" \
    --project "$FERRY_BIGQUERY_PROJECT" --data-dir "$data"
}

# Ready when the REST API lists the project's datasets (that goes through DuckDB/DuckLake).
bigquery_ready() {
  curl -sf --max-time 5 -o /dev/null \
    "http://127.0.0.1:$FERRY_BIGQUERY_PORT/bigquery/v2/projects/$FERRY_BIGQUERY_PROJECT/datasets?maxResults=1"
}

bigquery_describe() {
  echo "local-bigquery $FERRY_BIGQUERY_VERSION (duckdb 1.5.5) project $FERRY_BIGQUERY_PROJECT, REST http://127.0.0.1:$FERRY_BIGQUERY_PORT, gRPC 127.0.0.1:$FERRY_BIGQUERY_GRPC_PORT, data $FERRY_INFRA/data/bigquery"
}
