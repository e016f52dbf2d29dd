# Apicurio Registry, a schema registry with a Confluent-compatible REST API
# (/apis/ccompat/v7), storing its schemas in the stack's PostgreSQL.
# shellcheck shell=bash

registry_url() { echo "http://$STACK_HOST:$REGISTRY_PORT/apis/ccompat/v7"; }
registry_endpoint() { registry_url; }
registry_healthy() { service_pid registry >/dev/null && http_ok "$(registry_url)/subjects"; }

registry_up() {
  if registry_healthy; then info "registry: already running, reused"; return; fi
  service_pid registry >/dev/null && stop_process registry
  require_port_free registry "$REGISTRY_PORT" REGISTRY_PORT
  require_port_free registry "$REGISTRY_MANAGEMENT_PORT" REGISTRY_MANAGEMENT_PORT
  local java; java=$(registry_java) || die "registry: needs Java 21 or newer; set REGISTRY_JAVA_HOME"
  # The password reaches Apicurio through its environment, not its command line (visible in ps).
  APICURIO_DATASOURCE_PASSWORD="$PG_PASSWORD" start_process registry "$java" -Xmx"$REGISTRY_HEAP" \
    -Dquarkus.http.host="$STACK_HOST" -Dquarkus.http.port="$REGISTRY_PORT" \
    -Dquarkus.management.host="$STACK_HOST" -Dquarkus.management.port="$REGISTRY_MANAGEMENT_PORT" \
    -Dquarkus.otel.sdk.disabled=true \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=postgresql \
    -Dapicurio.datasource.url="jdbc:postgresql://$STACK_HOST:$PG_PORT/registry" \
    -Dapicurio.datasource.username="$PG_USER" \
    -Dapicurio.datasource.jdbc.initial-size=2 -Dapicurio.datasource.jdbc.min-size=2 -Dapicurio.datasource.jdbc.max-size=10 \
    -jar "$UIS_DIST_DIR/registry/apicurio/quarkus-run.jar"
  wait_healthy registry registry_healthy
}

registry_down() { stop_process registry "$@"; }
