#!/usr/bin/env bash
# Prepare the local services the test suite talks to: PostgreSQL and RabbitMQ on this machine.
# Starts each if it is down, enables the consistent-hash exchange plugin, creates the test
# database. Fails loudly when a service cannot be reached: tests never skip for lack of one.
# Idempotent and quiet: when everything is already up it prints one line, so `make test`
# runs it every time. A service already answering on its port (CI's service containers) is
# used as it is: only a local server this script can manage is started or configured.
set -euo pipefail

PGHOST_ADDR=${PGHOST_ADDR:-127.0.0.1}
AMQP_ADDR=${AMQP_ADDR:-127.0.0.1}
TEST_DB=${TEST_DB:-ticketwar_test}

# Bounded wait: $1 tries, one second apart, for the command that follows to succeed.
wait_for() { local tries=$1; shift; for _ in $(seq 1 "$tries"); do "$@" && return; sleep 1; done; "$@"; }

pg_up() { pg_isready -q -h "$PGHOST_ADDR" -p 5432; }
if ! pg_up; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
wait_for 30 pg_up || { echo "services: PostgreSQL is not answering on $PGHOST_ADDR:5432" >&2; exit 1; }

if ! psql -h "$PGHOST_ADDR" -U postgres -tAc "select 1 from pg_database where datname='$TEST_DB'" | grep -q 1; then
  psql -h "$PGHOST_ADDR" -U postgres -qc "create database $TEST_DB"
fi

# Prometheus evaluates the Grafana dashboards' queries in the test suite.
if ! command -v prometheus >/dev/null; then
  echo "services: installing prometheus (Debian package)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus) >/dev/null
fi
# The package may start its own server on :9090; the tests run their own on free ports.

# The web UI tests drive Debian's Chromium (Playwright's own browser download is not used);
# CHROMIUM names another browser binary (CI's Google Chrome).
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "services: installing chromium (Debian package)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
fi

amqp_port_open() { (exec 3<>"/dev/tcp/$AMQP_ADDR/5672") 2>/dev/null; }
rmq_up() { rabbitmqctl -q status >/dev/null 2>&1; }
if amqp_port_open && ! command -v rabbitmqctl >/dev/null; then
  # Not ours to manage (a container): whoever runs it enables the plugin.
  echo "services: PostgreSQL (database $TEST_DB) and RabbitMQ ($AMQP_ADDR:5672) ready"
  exit 0
fi
if ! rmq_up; then
  echo "services: starting RabbitMQ"
  rabbitmq-server -detached || true
  wait_for 60 rmq_up || { echo "services: RabbitMQ is not running" >&2; exit 1; }
  rabbitmqctl -q await_startup >/dev/null
fi
rabbitmq-plugins -q enable rabbitmq_consistent_hash_exchange >/dev/null
echo "services: PostgreSQL (database $TEST_DB) and RabbitMQ (consistent-hash exchange) ready"
