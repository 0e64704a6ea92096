#!/usr/bin/env bash
# Prepare the local services the test suite talks to: PostgreSQL and RabbitMQ on this machine.
# Starts each if it is down, enables the consistent-hash exchange plugin, creates the test
# database. Fails loudly when a service cannot be reached: tests never skip for lack of one.
set -euo pipefail

PGHOST_ADDR=${PGHOST_ADDR:-127.0.0.1}
TEST_DB=${TEST_DB:-ticketwar_test}

pg_up() { pg_isready -q -h "$PGHOST_ADDR" -p 5432; }
if ! pg_up; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
for _ in $(seq 1 30); do pg_up && break; sleep 1; done
pg_up || { echo "services: PostgreSQL is not answering on $PGHOST_ADDR:5432" >&2; exit 1; }

if ! psql -h "$PGHOST_ADDR" -U postgres -tAc "select 1 from pg_database where datname='$TEST_DB'" | grep -q 1; then
  psql -h "$PGHOST_ADDR" -U postgres -qc "create database $TEST_DB"
fi
echo "services: PostgreSQL ready, database $TEST_DB"

# Prometheus evaluates the Grafana dashboards' queries in the test suite.
if ! command -v prometheus >/dev/null; then
  echo "services: installing prometheus (Debian package)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus) >/dev/null
fi
# The package may start its own server on :9090; the tests run their own on free ports.

# The web UI tests drive Debian's Chromium (Playwright's own browser download is not used).
if [ ! -x /usr/bin/chromium ]; then
  echo "services: installing chromium (Debian package)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
fi

rmq_up() { rabbitmqctl -q status >/dev/null 2>&1; }
if ! rmq_up; then
  echo "services: starting RabbitMQ"
  rabbitmq-server -detached || true
fi
for _ in $(seq 1 60); do rmq_up && break; sleep 1; done
rmq_up || { echo "services: RabbitMQ is not running" >&2; exit 1; }
rabbitmqctl -q await_startup >/dev/null
rabbitmq-plugins -q enable rabbitmq_consistent_hash_exchange >/dev/null
echo "services: RabbitMQ ready, consistent-hash exchange enabled"
