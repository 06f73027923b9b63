#!/usr/bin/env bash
# Start or stop the real services the tests use. PostgreSQL is started by the test run itself
# (tests/conftest.py); this script starts a Docker engine when none answers.
#
#   bash scripts/services.sh start   # dockerd with no bridge and no iptables (network safety)
#   bash scripts/services.sh stop    # stops only the daemon this script started, by its PID
set -euo pipefail

STATE_DIR=${MLRB_SERVICES_DIR:-/tmp/mlrb-services}
PIDFILE="$STATE_DIR/dockerd.pid"

docker_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start() {
  mkdir -p "$STATE_DIR"
  if docker_answers; then
    echo "services: a Docker engine already answers; using it"
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "services: dockerd not installed (apt-get install -y docker.io busybox-static)" >&2
    return 3
  fi
  # --bridge=none --iptables=false: containers get no network unless a test asks for host.
  dockerd --bridge=none --iptables=false --ip6tables=false \
    --data-root "$STATE_DIR/docker-data" --exec-root "$STATE_DIR/docker-exec" \
    --pidfile "$STATE_DIR/dockerd.daemon.pid" >"$STATE_DIR/dockerd.log" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 60); do
    if docker_answers; then
      echo "services: Docker engine started (pid $(cat "$PIDFILE"))"
      return 0
    fi
    sleep 0.5
  done
  echo "services: Docker engine did not answer within 30 s; see $STATE_DIR/dockerd.log" >&2
  tail -20 "$STATE_DIR/dockerd.log" >&2 || true
  return 3
}

stop() {
  if [[ -f "$PIDFILE" ]]; then
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
      echo "services: Docker engine (pid $pid) stopped"
    fi
    rm -f "$PIDFILE"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
