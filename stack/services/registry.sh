# Apicurio Registry, a schema registry with a Confluent-compatible REST API
# (/apis/ccompat/v7), storing its schemas in the stack's PostgreSQL.
# shellcheck shell=bash

#
# Beside it, a second one that requires HTTP basic authentication (Quarkus' embedded users, which
# Apicurio's build enables; in-memory storage): for the service's registry credentials and their test.
# Its user is REGISTRY_AUTH_USER, its password in registry/auth/<user>.password.

registry_url() { echo "http://$STACK_HOST:$REGISTRY_PORT/apis/ccompat/v7"; }
registry_auth_url() { echo "http://$STACK_HOST:$REGISTRY_AUTH_PORT/apis/ccompat/v7"; }
registry_auth_dir() { echo "$UIS_STACK_DIR/registry/auth"; }
registry_endpoint() { echo "$(registry_url), basic auth $(registry_auth_url)"; }
registry_healthy() {
  service_pid registry >/dev/null && http_ok "$(registry_url)/subjects" &&
    service_pid registry-auth >/dev/null && http_ok "http://$STACK_HOST:$REGISTRY_AUTH_MANAGEMENT_PORT/health/ready"
}

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
  registry_auth_up "$java"
  wait_healthy registry registry_healthy
}

registry_auth_up() {
  local java=$1 dir; dir=$(registry_auth_dir)
  service_pid registry-auth >/dev/null && stop_process registry-auth
  require_port_free registry-auth "$REGISTRY_AUTH_PORT" REGISTRY_AUTH_PORT
  require_port_free registry-auth "$REGISTRY_AUTH_MANAGEMENT_PORT" REGISTRY_AUTH_MANAGEMENT_PORT
  secret_file "$dir/$REGISTRY_AUTH_USER.password"
  # The password reaches Apicurio in a config file only its owner reads, not on its command line.
  (umask 077 && printf 'quarkus.security.users.embedded.users.%s=%s\n' "$REGISTRY_AUTH_USER" \
    "$(<"$dir/$REGISTRY_AUTH_USER.password")" >"$dir/users.properties")
  start_process registry-auth "$java" -Xmx256m \
    -Dquarkus.http.host="$STACK_HOST" -Dquarkus.http.port="$REGISTRY_AUTH_PORT" \
    -Dquarkus.management.host="$STACK_HOST" -Dquarkus.management.port="$REGISTRY_AUTH_MANAGEMENT_PORT" \
    -Dquarkus.otel.sdk.disabled=true \
    -Dquarkus.http.auth.basic=true -Dquarkus.security.users.embedded.plain-text=true \
    -Dquarkus.security.users.embedded.roles."$REGISTRY_AUTH_USER"=sr-admin \
    -Dquarkus.http.auth.permission.registry.paths='/apis/*' -Dquarkus.http.auth.permission.registry.policy=authenticated \
    -Dquarkus.config.locations="file://$dir/users.properties" \
    -jar "$UIS_DIST_DIR/registry/apicurio/quarkus-run.jar"
}

registry_down() {
  stop_process registry-auth "$@"
  stop_process registry "$@"
}
