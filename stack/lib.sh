# Shared helpers of the local stack: logging, processes, ports, installs.
# shellcheck shell=bash

info() { printf '[stack] %s\n' "$*"; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

now_ms() { date +%s%3N; }
elapsed_s() { local t0=$1; awk -v d="$(( $(now_ms) - t0 ))" 'BEGIN { printf "%.1fs", d / 1000 }'; }

log_file() { echo "$UIS_STACK_DIR/logs/$1.log"; }
pid_file() { echo "$UIS_STACK_DIR/run/$1.pid"; }

# The pid of a service we started, if it still runs.
service_pid() {
  local f; f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  local pid; pid=$(<"$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$STACK_HOST/$1") 2>/dev/null; }

# Fails with a message naming the service when its port is taken by a process we did not start.
require_port_free() {
  local service=$1 port=$2 var=$3
  if port_open "$port"; then
    local who; who=$(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*' | head -1 | sed 's/users:((//')
    die "$service: port $port is already in use${who:+ by $who}. Stop that process or choose another port with $var=<port>."
  fi
}

# Starts a command detached from this shell, logging to the service's log file.
start_process() {
  local service=$1; shift
  local log; log=$(log_file "$service")
  echo "---- $(date -u +%FT%TZ) starting $service" >>"$log"
  stat -c %s "$log" >"$UIS_STACK_DIR/run/$service.log-offset"
  setsid nohup "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$(pid_file "$service")"
}

# Stops a service we started: SIGTERM, then SIGKILL if it is still there after 20s.
# With KILL as the second argument: SIGKILL at once (a crash, for fault tests).
stop_process() {
  local service=$1 signal=${2:-TERM} pid
  if ! pid=$(service_pid "$service"); then
    rm -f "$(pid_file "$service")"
    return 0
  fi
  [[ $signal == TERM || $signal == KILL ]] || die "stop_process: signal must be TERM or KILL, got $signal"
  info "stopping $service (pid $pid, SIG$signal)"
  kill "-$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    info "$service did not stop in 20s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
  fi
  # A killed leader can leave its children running (PostgreSQL's backends, still writing its data
  # directory): the service was started in a session of its own, so end the whole process group.
  if [[ $signal == KILL ]] || pgrep -g "$pid" >/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      pgrep -g "$pid" >/dev/null || break
      sleep 0.2
    done
  fi
  rm -f "$(pid_file "$service")"
}

# Waits until `check` succeeds; fails naming the service and its log if the
# process dies or the timeout passes.
wait_healthy() {
  local service=$1 check=$2 timeout=${3:-$STACK_START_TIMEOUT_S}
  local deadline=$(( $(date +%s) + timeout ))
  until "$check"; do
    if ! service_pid "$service" >/dev/null; then
      tail -n 30 "$(log_file "$service")" >&2 || true
      die "$service exited during start. Its log: $(log_file "$service")"
    fi
    if (( $(date +%s) > deadline )); then
      tail -n 30 "$(log_file "$service")" >&2 || true
      die "$service did not become healthy within ${timeout}s. Its log: $(log_file "$service")"
    fi
    sleep 0.5
  done
}

# The part of a service's log written since its last start.
last_start_log() { tail -c +"$(cat "$UIS_STACK_DIR/run/$1.log-offset" 2>/dev/null || echo 1)" "$(log_file "$1")"; }

# A random secret in a file only its owner reads; kept once made.
secret_file() {
  local file=$1
  [[ -s $file ]] && return
  mkdir -p "$(dirname "$file")"
  (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$file")
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

# ---- installation -----------------------------------------------------------

java_major() { "$1" -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'; }

# A java binary of at least the given major version, preferring the default one.
find_java() {
  local min=$1 candidate
  for candidate in "$(command -v java 2>/dev/null || true)" "$STACK_JVM_ROOT"/*/bin/java; do
    [[ -x $candidate ]] || continue
    if (( $(java_major "$candidate") >= min )); then echo "$candidate"; return 0; fi
  done
  return 1
}

registry_java() {
  if [[ -n $REGISTRY_JAVA_HOME ]]; then
    [[ -x $REGISTRY_JAVA_HOME/bin/java ]] || die "registry: REGISTRY_JAVA_HOME=$REGISTRY_JAVA_HOME has no bin/java"
    echo "$REGISTRY_JAVA_HOME/bin/java"
  else
    find_java 21
  fi
}

apt_install() {
  command -v apt-get >/dev/null || die "cannot install $*: no apt-get on this machine; install them by hand"
  info "installing Debian packages: $*"
  if [[ ! -f "$UIS_STACK_DIR/run/apt-updated" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    mkdir -p "$UIS_STACK_DIR/run" && touch "$UIS_STACK_DIR/run/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

maven_dist_ready() { [[ -f "$UIS_DIST_DIR/$1/.resolved" && "$UIS_DIST_DIR/$1/.resolved" -nt "$STACK_HOME/maven/$1/pom.xml" ]]; }

install_ready() {
  [[ -x $PG_BIN/postgres ]] && find_java 17 >/dev/null && registry_java >/dev/null &&
    command -v mvn >/dev/null && command -v curl >/dev/null && command -v ss >/dev/null && command -v envsubst >/dev/null &&
    command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v prometheus-alertmanager >/dev/null &&
    maven_dist_ready kafka && maven_dist_ready debezium && maven_dist_ready registry
}

install_all() {
  local t0; t0=$(now_ms)
  local missing=()
  [[ -x $PG_BIN/postgres ]] || missing+=(postgresql-15 postgresql-client-15)
  find_java 17 >/dev/null || missing+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v curl >/dev/null || missing+=(curl)
  command -v ss >/dev/null || missing+=(iproute2)
  command -v envsubst >/dev/null || missing+=(gettext-base)
  command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
  command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
  if ((${#missing[@]})) && [[ $STACK_NO_INSTALL == 1 ]]; then
    local what="Debian packages ${missing[*]}"
    [[ " ${missing[*]} " == *" openjdk-17-jdk-headless "* ]] &&
      what="Java 17 or newer for kafka and connect (none on PATH or under $STACK_JVM_ROOT); $what"
    die "missing: $what. Install them, or unset STACK_NO_INSTALL to let 'up' install them."
  fi
  if ((${#missing[@]})); then
    apt_install "${missing[@]}"
    # Debian's package creates and starts a cluster of its own on 5432; ours runs separately.
    if command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q '^15 *main'; then
      pg_ctlcluster 15 main stop 2>/dev/null || true
    fi
  fi
  registry_java >/dev/null || die "registry: Apicurio Registry 3.3 needs Java 21 or newer and none was found under /usr/lib/jvm. Install a JDK >= 21 and set REGISTRY_JAVA_HOME to it."
  local part
  for part in kafka debezium registry; do
    maven_dist_ready "$part" && continue
    info "resolving $part from Maven Central (cached in ~/.m2)"
    rm -rf "${UIS_DIST_DIR:?}/$part"
    mvn -q -B -f "$STACK_HOME/maven/$part/pom.xml" package "-Dstack.dist=$UIS_DIST_DIR/$part" \
      >"$UIS_STACK_DIR/logs/maven-$part.log" 2>&1 ||
      { tail -n 20 "$UIS_STACK_DIR/logs/maven-$part.log" >&2; die "$part: Maven could not resolve its jars. Its log: $UIS_STACK_DIR/logs/maven-$part.log"; }
    touch "$UIS_DIST_DIR/$part/.resolved"
  done
  info "installed in $(elapsed_s "$t0")"
}
