#!/usr/bin/env bash
# The local stack: PostgreSQL 15, Kafka (KRaft), Kafka Connect with Debezium,
# and Apicurio Registry (Confluent-compatible API), all native processes on
# loopback, all state and logs under one directory. No Docker needed.
#
#   stack.sh up       install what is missing, start every service, wait until healthy
#   stack.sh down     stop every service (state is kept; `reset` deletes it)
#   stack.sh status   one line per service with its endpoint
#   stack.sh logs [service]   tail the logs
#   stack.sh restart <service> [--kill]   stop one service (SIGTERM, or SIGKILL with
#                     --kill), start it again and wait until it is healthy; after
#                     kafka or connect, also until the Debezium connector runs again
#   stack.sh reset    stop and delete all state
#
# Every setting is an environment variable; see stack/env.sh.
set -euo pipefail

STACK_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=stack/env.sh
source "$STACK_HOME/env.sh"
# shellcheck source=stack/lib.sh
source "$STACK_HOME/lib.sh"
for service_file in "$STACK_HOME"/services/*.sh; do
  # shellcheck disable=SC1090
  source "$service_file"
done

SERVICES=(postgres kafka registry connect alertmanager prometheus)

cmd_up() {
  local started_at cold=0
  started_at=$(now_ms)
  mkdir -p "$UIS_STACK_DIR/logs" "$UIS_STACK_DIR/run"
  if ! install_ready; then cold=1; install_all; fi
  for s in "${SERVICES[@]}"; do
    local t0; t0=$(now_ms)
    "${s}_up"
    info "$s ready in $(elapsed_s "$t0")"
    [[ $s == connect ]] && connector_register
  done
  local kind=warm; [[ $cold == 1 ]] && kind=cold
  info "stack up ($kind start) in $(elapsed_s "$started_at")"
  cmd_status
}

cmd_down() {
  local s
  for ((i=${#SERVICES[@]}-1; i>=0; i--)); do
    s=${SERVICES[$i]}
    "${s}_down"
  done
}

cmd_status() {
  local rc=0
  for s in "${SERVICES[@]}"; do
    if "${s}_healthy"; then
      printf '%-13s up    %s\n' "$s" "$("${s}_endpoint")"
    else
      printf '%-13s down  %s\n' "$s" "$("${s}_endpoint")"
      rc=1
    fi
  done
  if connect_healthy; then
    printf '%-13s %-5s %s\n' connector "$(connector_state)" "http://$STACK_HOST:$CONNECT_PORT/connectors/$CONNECTOR_NAME/status"
  fi
  printf 'state dir: %s\n' "$UIS_STACK_DIR"
  return $rc
}

cmd_logs() {
  local target=${1:-}
  if [[ -n $target ]]; then
    tail -n 200 -F "$UIS_STACK_DIR/logs/$target.log"
  else
    tail -n 50 -F "$UIS_STACK_DIR"/logs/*.log
  fi
}

cmd_restart() {
  local service=${1:-} signal=TERM
  [[ " ${SERVICES[*]} " == *" $service "* ]] || die "restart: which service? One of: ${SERVICES[*]}"
  case "${2:-}" in
    "") ;;
    --kill) signal=KILL ;;
    *) die "restart: unknown option ${2}; usage: stack.sh restart <service> [--kill]" ;;
  esac
  mkdir -p "$UIS_STACK_DIR/logs" "$UIS_STACK_DIR/run"
  local t0; t0=$(now_ms)
  "${service}_down" "$signal"
  "${service}_up"
  # The connector's task may have failed while the broker or Connect was away.
  if [[ $service == kafka || $service == connect ]] && connect_healthy; then
    connector_wait_running --restart-failed
    info "connector $CONNECTOR_NAME running"
  fi
  info "$service restarted (SIG$signal) in $(elapsed_s "$t0")"
}

cmd_reset() {
  cmd_down
  info "deleting $UIS_STACK_DIR/{postgres,kafka,connect,registry,prometheus,alertmanager,run,logs}"
  if [[ -L $UIS_STACK_DIR/postgres ]]; then rm -rf "$(dirname "$(readlink -f "$UIS_STACK_DIR/postgres")")"; fi
  rm -rf "$UIS_STACK_DIR"/{postgres,kafka,connect,registry,prometheus,alertmanager,run,logs}
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  logs) shift; cmd_logs "${1:-}" ;;
  restart) shift; cmd_restart "$@" ;;
  reset) cmd_reset ;;
  install) install_all ;;
  *) echo "usage: stack.sh up|down|status|logs [service]|restart <service> [--kill]|reset|install" >&2; exit 2 ;;
esac
