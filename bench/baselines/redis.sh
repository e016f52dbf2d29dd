#!/usr/bin/env bash
# Redis for the cache-aside baseline: Debian's redis-server on 127.0.0.1:$REDIS_PORT (6379), no persistence,
# daemonized, data, log and pid file in $UIS_STACK_DIR/redis (default <project>/.stack/redis).
#
#   bash bench/baselines/redis.sh [start]   # installs redis-server if missing, starts it, waits for PING
#   bash bench/baselines/redis.sh stop      # stops the Redis this script started
#   bash bench/baselines/redis.sh status
#
# If a Redis already answers on the port, start uses it and says so (stop only ever stops ours).
set -euo pipefail

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${UIS_STACK_DIR:=$PROJECT_ROOT/.stack}"
: "${REDIS_PORT:=6379}"
DIR="$UIS_STACK_DIR/redis"
PIDFILE="$DIR/redis.pid"
LOG="$DIR/redis.log"

say() { echo "[redis] $*"; }
die() { echo "[redis] error: $*" >&2; exit 1; }

ping() { command -v redis-cli >/dev/null && [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }
our_pid() {
  local pid
  [[ -f $PIDFILE ]] || return 1
  pid=$(<"$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

install() {
  command -v apt-get >/dev/null || die "redis-server is missing and there is no apt-get: install Redis by hand"
  say "installing Debian's redis-server"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends redis-server >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  fi
  # The package's own service may have been started on 6379: stop it and keep it from starting at boot.
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl stop redis-server >/dev/null 2>&1 || true
    systemctl disable redis-server >/dev/null 2>&1 || true
  fi
  if [[ -x /etc/init.d/redis-server ]]; then
    /etc/init.d/redis-server stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null && update-rc.d redis-server disable >/dev/null 2>&1 || true
  fi
  local debian_pid
  if [[ -f /run/redis/redis-server.pid ]]; then
    debian_pid=$(</run/redis/redis-server.pid)
    [[ $debian_pid =~ ^[0-9]+$ ]] && kill "$debian_pid" 2>/dev/null || true
  fi
  command -v redis-server >/dev/null || die "redis-server is still missing after apt-get install"
}

start() {
  local pid
  if pid=$(our_pid) && ping; then
    say "running (pid $pid) on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  if ping; then
    say "a Redis that this script did not start already answers on 127.0.0.1:$REDIS_PORT; using it"
    return 0
  fi
  command -v redis-server >/dev/null || install
  mkdir -p "$DIR"
  rm -f "$PIDFILE"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
    --save '' --appendonly no \
    --daemonize yes --dir "$DIR" --logfile "$LOG" --pidfile "$PIDFILE" \
    || die "redis-server did not start; see $LOG"
  local i
  for ((i = 0; i < 100; i++)); do
    if ping; then
      say "up on 127.0.0.1:$REDIS_PORT (pid $(our_pid || echo '?'), log $LOG)"
      return 0
    fi
    sleep 0.1
  done
  die "no PONG from 127.0.0.1:$REDIS_PORT within 10 s; see $LOG"
}

stop() {
  local pid i
  if ! pid=$(our_pid); then
    say "not running (no live pid in $PIDFILE)"
    rm -f "$PIDFILE"
    return 0
  fi
  kill "$pid"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || { say "stopped (pid $pid)"; rm -f "$PIDFILE"; return 0; }
    sleep 0.1
  done
  die "pid $pid did not stop within 10 s"
}

status() {
  local pid
  if pid=$(our_pid); then
    say "ours, pid $pid, on 127.0.0.1:$REDIS_PORT$(ping && echo ', answers PING' || echo ', no PONG')"
  elif ping; then
    say "not ours, but a Redis answers on 127.0.0.1:$REDIS_PORT"
  else
    say "not running on 127.0.0.1:$REDIS_PORT"
    return 1
  fi
}

case "${1:-start}" in
  start | up) start ;;
  stop | down) stop ;;
  status) status ;;
  *) die "usage: $0 [start|stop|status]" ;;
esac
