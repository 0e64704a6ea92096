"""The `ticketwar` command: run the engine, apply migrations, manage accounts.

    ticketwar run [--seed-demo]          gateway (+ shard actors in embedded mode)
    ticketwar migrate                    apply database migrations
    ticketwar users add EMAIL --role R   create or promote an account
    ticketwar users set-password EMAIL   replace a password (signs the account out)
    ticketwar users remove EMAIL         sign out and anonymise an account
    ticketwar surge SCENARIO             play a surge and check the invariants
    ticketwar cluster up|down|status|cut|heal
                                         a cluster of hosts in network namespaces
    ticketwar queue audit EVENT          a waiting room's admission order, checked
"""

from __future__ import annotations

import argparse
import getpass
import logging
import secrets
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from engine.entrypoint import configure_logging, startup_errors
from engine.settings import Settings
from ops.banner import box, browser_url
from ops.environment import database, load_settings

log = logging.getLogger(__name__)

SETTINGS_HELP = """\
settings come from the environment:
  DATABASE_URL        PostgreSQL DSN; unset: embedded PostgreSQL under .ticketwar/
  AMQP_URL            RabbitMQ URL; unset: in-process transport
  JWT_SECRET          >= 32 bytes; unset: generated once into .ticketwar/jwt_secret
  SHARDS              shard count (default 8)
  SHARD_WORKERS       shard worker processes started with AMQP_URL (default 2)
  GATEWAY_PROCESSES   gateway processes on one port with AMQP_URL (default: one per core;
                      the in-process transport runs one)
  GATEWAY_METRICS_PORT
                      gateway process i also serves /metrics on this port + i (default 0: none)
  BOOKING_STRATEGY    queued | locked | naive (naive needs ALLOW_NAIVE=1)
  PAYMENT_PROVIDER    fake; required with DATABASE_URL (the embedded demo uses fake)
  PAYMENT_WEBHOOK_SECRET
                      >= 32 bytes: the provider's webhooks are taken, signed with it
                      (unset: POST /api/payments/webhook answers 404)
  SMTP_URL, MAIL_FROM where emails go (smtp://host:port) and who sends them; unset: the
                      emails are written to the log (NOTIFIER=log)
  HOST, PORT          listen address (default 127.0.0.1:8080)
  LOG_LEVEL           DEBUG | INFO | WARNING | ERROR (default INFO; --log-level wins)
  MAX_CONNECTIONS     open connections per gateway process (default 10000)
  MAX_STREAMS, MAX_STREAMS_PER_USER, MAX_STREAMS_PER_ADDRESS
                      open event streams per process / user / address (5000 / 5 / 50)
  IDLE_TIMEOUT_SECONDS, BODY_TIMEOUT_SECONDS
                      close idle or slow connections; 408 for a slow body (10 / 10)
  RATE_LIMIT_AUTH, RATE_LIMIT_REGISTER
                      per address on login and register; account creation (10/minute, 10/hour)
  METRICS_ALLOWED     who may read /metrics (default: loopback and private networks)
  see README.md for the full table
"""


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    import uvloop

    return uvloop.run(coro)


async def _with_pool(settings: Settings, work: Any, *, apply_migrations: bool = True) -> Any:
    from engine.storage import create_pool

    pool = await create_pool(settings, apply_migrations=apply_migrations)
    try:
        return await work(pool)
    finally:
        await pool.close()


def cmd_run(args: argparse.Namespace, configured: Settings) -> int:
    """Start the gateway (and, in embedded mode, the shard actors)."""
    from engine.entrypoint import die_with_parent

    die_with_parent("ticketwar run", parent="the surge that started it")

    async def ready(port: int) -> None:
        # Printed last, after the log says it listens: what a person needs, where it shows.
        lines = [f"Ticket War Engine is running: open {browser_url(settings.host, port)}",
                 f"database: {'embedded' if embedded else 'configured'}, transport: "
                 f"{settings.transport} ({_gateway_processes(settings)}), strategy: "
                 f"{settings.booking_strategy}. Ctrl-C stops it."]
        if args.seed_demo:
            lines += ["", "Demo logins (passwords are new each run):"]
            lines += [f"  {role:<7} {email:<18} {password}" for email, password, role
                      in await _with_pool(settings, seed_demo, apply_migrations=False)]
        print(box(lines), flush=True)

    from engine.payments.registry import require_provider
    from gateway.serve import check_port

    embedded = configured.database_url is None  # database() fills the URL in when embedded
    check_port(configured)  # before anything starts, so nothing has to be stopped again
    if configured.database_url is not None:  # the embedded database defaults to `fake`
        require_provider(configured)
    with database(configured) as settings:
        code: int = _run(_serve_with_workers(settings, ready))
    return code


def _gateway_processes(settings: Settings) -> str:
    if settings.amqp_url is None:
        return "one gateway process"
    count = settings.gateway_processes
    return f"{count} gateway process{'es' if count > 1 else ''}"


async def _serve_with_workers(settings: Settings, ready: Any) -> int:
    """The gateway; with RabbitMQ, GATEWAY_PROCESSES supervised gateway processes on one
    port and SHARD_WORKERS supervised shard worker processes.

    Workers start first (they declare and own the shard queues) and stop last, after every
    gateway has stopped taking requests, so no accepted command waits for a consumer.
    """
    from gateway.serve import serve
    from ops.gateways import EXIT_MARGIN_SECONDS, serve_processes
    from ops.supervisor import WorkerSupervisor, worker_env

    if settings.amqp_url is None:
        # The in-process transport's actors live in the gateway's process: there is one.
        log.info("in-process transport: one gateway process (GATEWAY_PROCESSES=%d applies "
                 "with AMQP_URL)", settings.gateway_processes)
        return await serve(settings, ready)
    await _check_services(settings)
    workers = WorkerSupervisor(
        settings.shard_workers, worker_env(settings),
        grace_seconds=settings.shutdown_deadline_seconds + EXIT_MARGIN_SECONDS)
    await workers.start()
    try:
        code = await serve_processes(settings, ready)
    finally:
        workers_code = await workers.stop()
    return max(code, workers_code)


async def _check_services(settings: Settings) -> None:
    """Reach the database (migrating it) and the broker (declaring the topology) once before
    any worker starts: a missing service is then one clear error, not one per worker and
    restart."""
    from engine.notifications import Notifications
    from engine.storage import create_pool
    from engine.transport.amqp import AmqpTransport

    pool = await create_pool(settings)
    await pool.close()
    transport = AmqpTransport(settings, Notifications())
    await transport.start()
    await transport.stop()


async def seed_demo(pool: Any) -> list[tuple[str, str, str]]:
    """A demo vendor, buyer and on-sale event; (email, fresh password, role) of each account."""
    from engine.accounts import add_user
    from engine.storage import events
    from engine.types import Role

    logins = []
    for email, role in (("vendor@demo.test", Role.VENDOR), ("buyer@demo.test", Role.USER)):
        password = secrets.token_urlsafe(9)
        user, _ = await add_user(pool, email, password, role, name=role.value.title())
        logins.append((email, password, role.value))
        if role is Role.VENDOR and not await pool.fetchval(
                "SELECT 1 FROM events WHERE vendor_id = $1", user.id):
            await events.create_event(pool, user, {"name": "Demo Night", "venue": "Main Hall",
                                                   "capacity": 100, "per_user_limit": 4})
    return logins


def cmd_migrate(args: argparse.Namespace, configured: Settings) -> int:
    """Apply pending migrations."""
    from engine.storage.migrate import migrate

    async def work(pool: Any) -> list[str]:
        async with pool.acquire() as conn:
            return await migrate(conn)

    with database(configured) as settings:
        applied = _run(_with_pool(settings, work, apply_migrations=False))
    print(f"applied: {', '.join(applied)}" if applied else "database is up to date")
    return 0


def cmd_users_add(args: argparse.Namespace, configured: Settings) -> int:
    """Create an account, or change the role (and password) of an existing one."""
    from engine.accounts import add_user
    from engine.types import Role

    password = _ask_password(args)
    user, created = _change_accounts(configured, lambda pool: add_user(
        pool, args.email, password, Role(args.role), args.name))
    print(f"{'created' if created else 'updated'} {user.email} (id {user.id}, role {user.role})")
    return 0


def _change_accounts(configured: Settings, work: Any) -> Any:
    """`work(pool)` on the configured database. A change the engine refuses (a weak password,
    an unknown role) ends the command with its message and exit code 2; a start-up error
    goes on to be reported as every command's are."""
    from engine.errors import EngineError, StartupError

    try:
        with database(configured) as settings:
            return _run(_with_pool(settings, work))
    except StartupError:
        raise
    except (EngineError, ValueError) as exc:
        print(f"ticketwar: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _no_account(email: str) -> int:
    print(f"ticketwar: no account {email}", file=sys.stderr)
    return 1


def _ask_password(args: argparse.Namespace) -> str | None:
    if args.password is None and args.ask_password:
        return getpass.getpass("password: ")
    return args.password  # type: ignore[no-any-return]


def cmd_users_set_password(args: argparse.Namespace, configured: Settings) -> int:
    """Replace an account's password; every token it holds stops working within seconds."""
    from engine.accounts import set_password

    password = _ask_password(args)
    if password is None:
        print("ticketwar: give --password or --ask-password", file=sys.stderr)
        return 2
    user = _change_accounts(configured, lambda pool: set_password(pool, args.email, password))
    if user is None:
        return _no_account(args.email)
    print(f"password changed for {user.email} (id {user.id}); its sessions are signed out")
    return 0


def cmd_users_remove(args: argparse.Namespace, configured: Settings) -> int:
    """Sign an account out everywhere and anonymise it; its bookings and tickets stay."""
    from engine.accounts import remove_user

    user = _change_accounts(configured, lambda pool: remove_user(pool, args.email))
    if user is None:
        return _no_account(args.email)
    print(f"removed {args.email} (id {user.id}, now {user.email}); its sessions are signed "
          "out, its bookings and tickets kept")
    return 0


def cmd_shards(args: argparse.Namespace, settings: Settings) -> int:
    """`ticketwar shards`: one shard worker, exactly as `python -m shards`."""
    from shards.__main__ import run

    return run(settings)


def _password_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password", help="the password (or use --ask-password)")
    parser.add_argument("--ask-password", action="store_true", help="prompt for the password")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="ticketwar", description="Ticket War Engine: sell a fixed stock of seats to a surge "
        "of buyers, never twice.", epilog=SETTINGS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR (default: LOG_LEVEL, "
                        "else INFO); DEBUG also shows the traceback of a start-up error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="start the engine", epilog=SETTINGS_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--seed-demo", action="store_true",
                     help="create a demo vendor, buyer and event, and print their logins")
    run.set_defaults(func=cmd_run)

    shards = sub.add_parser(
        "shards", help="run one shard worker process (same as python -m shards)",
        description="Consume this worker's shard queues from RabbitMQ and decide their "
        "bookings. Needs AMQP_URL and DATABASE_URL; SHARD_WORKER_INDEX and SHARD_WORKERS say "
        "which queues it serves actively (it stands by for the others).",
        epilog=SETTINGS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    shards.set_defaults(func=cmd_shards)

    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.set_defaults(func=cmd_migrate)

    users = sub.add_parser("users", help="manage accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = users_sub.add_parser(
        "add", help="create an account or change its role",
        description="Create an account, or promote an existing one. This is how VENDOR and "
        "ADMIN accounts are made: the API never lets a client choose those roles itself. "
        "A change of role or password signs the account out of every session.")
    add.add_argument("email")
    add.add_argument("--role", choices=["USER", "VENDOR", "ADMIN"], default="USER")
    _password_options(add)
    add.add_argument("--name")
    add.set_defaults(func=cmd_users_add)
    setpw = users_sub.add_parser(
        "set-password", help="replace an account's password (signs it out everywhere)",
        description="Replace the password of an account. Every token it holds is refused "
        "by every gateway within seconds.")
    setpw.add_argument("email")
    _password_options(setpw)
    setpw.set_defaults(func=cmd_users_set_password)
    remove = users_sub.add_parser(
        "remove", help="sign an account out everywhere and anonymise it",
        description="Remove an account: every token it holds is refused within seconds, it "
        "can no longer sign in, and its email and name are erased. Its bookings, tickets and "
        "events are kept (they are the sales ledger); the email may register again.")
    remove.add_argument("email")
    remove.set_defaults(func=cmd_users_remove)

    from ops.cluster.command import add_parser as add_cluster
    from ops.queue_audit import add_parser as add_queue
    from ops.surge.command import add_parser as add_surge

    add_surge(sub)
    add_cluster(sub)
    add_queue(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `ticketwar` console script."""
    args = build_parser().parse_args(argv)
    settings = load_settings(log_level=args.log_level)
    configure_logging(settings.log_level)
    with startup_errors("ticketwar"):
        sys.exit(args.func(args, settings))


if __name__ == "__main__":
    main()
