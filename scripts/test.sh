#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs the whole suite.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

log "Python environment (.venv)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

log "Node packages for the yjs/y-websocket interop tests"
npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error

log "Browser client: install, and check that the committed web/dist is not stale"
npm ci --prefix web --no-audit --no-fund --loglevel=error
npm run --prefix web --silent check
npm run --prefix web --silent cycles

log "Chromium for the browser tests (Debian's package)"
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version

log "poppler-utils for the PDF export tests (pdftoppm, pdftotext; Debian's package)"
if [ ! -x /usr/bin/pdftoppm ] || [ ! -x /usr/bin/pdftotext ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq poppler-utils >/dev/null
fi
/usr/bin/pdftoppm -v 2>&1 | sed -n 1p

log "PostgreSQL on 127.0.0.1:5432"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "PostgreSQL is not answering: starting the local cluster"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 1
  done
fi
pg_isready -h 127.0.0.1 -p 5432

log "Redis for cluster mode (Debian's redis-server; tests start private ones, and 127.0.0.1:6379)"
if [ ! -x /usr/bin/redis-server ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
fi
/usr/bin/redis-server --version
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Redis is not answering on 127.0.0.1:6379: starting one"
  redis-server --daemonize yes --save '' --appendonly no --bind 127.0.0.1 --port 6379
  for _ in $(seq 1 30); do
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
    sleep 1
  done
fi
redis-cli -h 127.0.0.1 -p 6379 ping

log "Lint"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

log "Types: mypy --strict on server/ and tests/support ([tool.mypy] in pyproject.toml), tsc on web/"
.venv/bin/mypy
npm run --prefix web --silent typecheck

log "Tests"
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  exit 1
fi
exit "$status"
