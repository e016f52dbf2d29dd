# Alertmanager from Debian's packages, routing the SLO alerts (stack/alertmanager/alertmanager.yml).
# shellcheck shell=bash

alertmanager_url() { echo "http://$STACK_HOST:$ALERTMANAGER_PORT"; }
alertmanager_endpoint() { alertmanager_url; }
alertmanager_healthy() { service_pid alertmanager >/dev/null && http_ok "$(alertmanager_url)/-/ready"; }

alertmanager_up() {
  if alertmanager_healthy; then info "alertmanager: already running, reused"; return; fi
  service_pid alertmanager >/dev/null && stop_process alertmanager
  require_port_free alertmanager "$ALERTMANAGER_PORT" ALERTMANAGER_PORT
  mkdir -p "$UIS_STACK_DIR/alertmanager"
  start_process alertmanager prometheus-alertmanager \
    --config.file="$STACK_HOME/alertmanager/alertmanager.yml" \
    --storage.path="$UIS_STACK_DIR/alertmanager" \
    --web.listen-address="$STACK_HOST:$ALERTMANAGER_PORT" \
    --cluster.listen-address=""
  wait_healthy alertmanager alertmanager_healthy
}

alertmanager_down() { stop_process alertmanager "$@"; }
