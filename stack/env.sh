# Settings of the local stack. Each can be overridden from the environment.
# shellcheck shell=bash
PROJECT_ROOT="$(cd "$STACK_HOME/.." && pwd)"

: "${UIS_STACK_DIR:=$PROJECT_ROOT/.stack}"   # all state, logs and pid files
: "${STACK_HOST:=127.0.0.1}"                     # every service binds to loopback only

: "${PG_PORT:=5432}"
: "${PG_DB:=twitter}"
: "${PG_USER:=uis}"
: "${PG_PASSWORD:=uis}"                      # local development password, never logged

: "${KAFKA_PORT:=9092}"
: "${KAFKA_CONTROLLER_PORT:=19093}"            # not 9093: that is Alertmanager's
# A second, authenticated listener: SASL_SSL with SCRAM-SHA-512, TLS with a self-signed certificate
# for $STACK_HOST made on first start (clients trust $UIS_STACK_DIR/kafka/tls/ca.pem), and one SCRAM
# user whose random password is in $UIS_STACK_DIR/kafka/sasl/<user>.password (mode 600, never logged).
# Everything else (Connect, the tests by default) uses the PLAINTEXT listener on KAFKA_PORT.
: "${KAFKA_SASL_PORT:=9094}"
: "${KAFKA_SASL_USER:=uis}"
: "${KAFKA_HEAP:=1g}"

: "${CONNECT_PORT:=8083}"
: "${CONNECT_HEAP:=2g}"                      # 768m: a 12.9M-row load in one transaction thrashed its GC, no CDC for 6 min
: "${CONNECTOR_NAME:=uis-postgres}"
: "${CDC_TOPIC_PREFIX:=cdc}"
: "${CDC_PARTITIONS:=4}"

: "${REGISTRY_PORT:=8081}"
: "${REGISTRY_MANAGEMENT_PORT:=9001}"          # Apicurio's health and metrics endpoints
: "${REGISTRY_HEAP:=512m}"
: "${REGISTRY_JAVA_HOME:=}"                   # a JDK >= 21 for Apicurio; found under /usr/lib/jvm if empty
: "${REGISTRY_AUTH_PORT:=8085}"                # a second Apicurio that requires HTTP basic authentication
: "${REGISTRY_AUTH_MANAGEMENT_PORT:=9002}"
: "${REGISTRY_AUTH_USER:=uis}"                 # its user; the password is made once, in registry/auth/

: "${PROMETHEUS_PORT:=9090}"
: "${PROMETHEUS_INTERVAL:=5s}"                 # scrape and rule evaluation interval
: "${ALERTMANAGER_PORT:=9093}"

: "${STACK_START_TIMEOUT_S:=120}"
: "${STACK_NO_INSTALL:=0}"                     # 1: fail on anything missing instead of installing it
: "${STACK_JVM_ROOT:=/usr/lib/jvm}"           # where JDKs are looked for besides PATH

: "${UIS_DIST_DIR:=$UIS_STACK_DIR/dist}"       # jars resolved from Maven Central
PG_BIN=/usr/lib/postgresql/15/bin
export UIS_STACK_DIR STACK_HOST PROMETHEUS_PORT ALERTMANAGER_PORT PG_PORT PG_DB PG_USER PG_PASSWORD KAFKA_PORT KAFKA_SASL_PORT KAFKA_SASL_USER CONNECT_PORT REGISTRY_PORT REGISTRY_AUTH_PORT REGISTRY_AUTH_USER CDC_TOPIC_PREFIX CDC_PARTITIONS
