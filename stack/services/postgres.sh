# PostgreSQL 15 from Debian's packages, in a cluster of our own (wal_level=logical).
# shellcheck shell=bash

# The real path: the state dir may hold only a link to it (see postgres_init).
PG_HOME() { readlink -m "$UIS_STACK_DIR/postgres"; }
PG_DATA() { echo "$(PG_HOME)/data"; }
PG_SOCKET_DIR() { echo "$(PG_HOME)/run"; }

postgres_endpoint() { echo "postgresql://$PG_USER@$STACK_HOST:$PG_PORT/$PG_DB"; }
postgres_healthy() { service_pid postgres >/dev/null && "$PG_BIN/pg_isready" -q -h "$STACK_HOST" -p "$PG_PORT"; }

# PostgreSQL refuses to run as root: as root, run it as the `postgres` user.
PG_AS_OWNER=()
[[ $(id -u) == 0 ]] && PG_AS_OWNER=(setpriv --reuid=postgres --regid=postgres --init-groups --)
pg_as_owner() { "${PG_AS_OWNER[@]}" "$@"; }

postgres_psql() { pg_as_owner "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(PG_SOCKET_DIR)" -p "$PG_PORT" "$@"; }

postgres_init() {
  local data; data=$(PG_DATA)
  if [[ $(id -u) == 0 ]]; then
    # The server runs as `postgres`, which may not reach a state dir inside a
    # private folder (a 0700 home or clone): then its files live in /var/tmp,
    # linked from the state dir.
    mkdir -p "$UIS_STACK_DIR"
    if ! setpriv --reuid=postgres --regid=postgres --init-groups -- test -x "$UIS_STACK_DIR"; then
      local outside; outside="/var/tmp/uis-stack-$(echo -n "$UIS_STACK_DIR" | sha1sum | cut -c1-10)/postgres"
      info "postgres: the 'postgres' user cannot reach $UIS_STACK_DIR; keeping its files in $outside"
      mkdir -p "$outside"
      rm -rf "$UIS_STACK_DIR/postgres"
      ln -s "$outside" "$UIS_STACK_DIR/postgres"
      chmod 755 "$(dirname "$outside")"
    fi
    data=$(PG_DATA)
    mkdir -p "$data" "$(PG_SOCKET_DIR)"
    chown -R postgres:postgres "$(PG_HOME)"
  else
    mkdir -p "$data" "$(PG_SOCKET_DIR)"
  fi
  info "postgres: initdb in $data"
  pg_as_owner "$PG_BIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --no-locale >>"$(log_file postgres)" 2>&1 || die "postgres: initdb failed. Its log: $(log_file postgres)"
  cat >>"$data/postgresql.conf" <<CONF
# ---- User Information Service local stack
listen_addresses = '$STACK_HOST'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
shared_buffers = 256MB
max_connections = 200
CONF
}

postgres_bootstrap() {
  postgres_psql -U postgres -d postgres <<SQL >/dev/null
SELECT 'CREATE ROLE $PG_USER LOGIN REPLICATION'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') \gexec
ALTER ROLE $PG_USER PASSWORD '$PG_PASSWORD';
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB') \gexec
SELECT 'CREATE DATABASE registry OWNER $PG_USER'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'registry') \gexec
SQL
  local sql
  for sql in "$PROJECT_ROOT"/schemas/postgres/*.sql; do
    postgres_psql -U "$PG_USER" -d "$PG_DB" <"$sql" >/dev/null 2>>"$(log_file postgres)" ||
      die "postgres: applying $sql failed. Its log: $(log_file postgres)"
  done
}

postgres_up() {
  if postgres_healthy; then info "postgres: already running, reused"; postgres_bootstrap; return; fi
  service_pid postgres >/dev/null && stop_process postgres
  require_port_free postgres "$PG_PORT" PG_PORT
  [[ -f $(PG_DATA)/PG_VERSION ]] || postgres_init
  start_process postgres "${PG_AS_OWNER[@]}" "$PG_BIN/postgres" -D "$(PG_DATA)" -p "$PG_PORT" -k "$(PG_SOCKET_DIR)"
  wait_healthy postgres postgres_healthy
  postgres_bootstrap
}

postgres_down() { stop_process postgres "$@"; }
