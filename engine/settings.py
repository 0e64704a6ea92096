"""Settings: read once from the environment at each entry point, frozen, passed down.

Credentials are wrapped in `Secret` so that logging a `Settings` never leaks them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from email.utils import parseaddr
from ipaddress import ip_network
from pathlib import Path

from engine.types import Strategy

#: The levels LOG_LEVEL (and `--log-level`) accept, in any case.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: HS256 keys shorter than this are refused (RFC 7518 §3.2: key >= hash output size).
MIN_JWT_SECRET_BYTES = 32
#: The payment webhooks' HMAC-SHA256 secret is held to the same bound, for the same reason.
MIN_WEBHOOK_SECRET_BYTES = 32


class Secret:
    """A string whose `repr` and `str` never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The wrapped value; call only where it is handed to a client library."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SettingsError(ValueError):
    """A setting has a value the engine cannot run with."""


def parse_latency(raw: str) -> tuple[float, float]:
    """`FAKE_PAYMENT_LATENCY`: `low-high` seconds, or one value; `SettingsError` if not."""
    low, _, high = raw.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise SettingsError(f"FAKE_PAYMENT_LATENCY={raw!r}: not seconds or low-high") from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise SettingsError(f"FAKE_PAYMENT_LATENCY={raw!r}: needs 0 <= low <= high")
    return bounds


def _bool(raw: str) -> bool:
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"not a boolean: {raw!r}")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the engine can be told. See the README's settings table."""

    database_url: Secret | None = None
    #: One RabbitMQ URL, or several nodes of one cluster comma-separated
    #: (engine/transport/amqp/nodes.py).
    amqp_url: Secret | None = None
    jwt_secret: Secret | None = None
    jwt_issuer: str = "ticketwar"
    jwt_audience: str = "ticketwar-api"
    jwt_ttl_seconds: int = 3600
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".ticketwar")
    #: The web UI's build, served at `/` (`make webui` writes it).
    webui_dir: Path = Path("webui/dist")
    shards: int = 8
    booking_strategy: Strategy = Strategy.QUEUED
    allow_naive: bool = False
    #: How long POST /book waits for the decision before answering 202 + Location.
    booking_wait_seconds: float = 5.0
    max_quantity: int = 10
    max_batch: int = 1024
    max_body_bytes: int = 16 * 1024
    #: Addresses whose X-Forwarded-For is believed; nobody else's is.
    trusted_proxies: frozenset[str] = frozenset()
    rate_limit_booking: str = "20/second"
    #: Per address on login and on register, whatever token is sent; login also per email.
    rate_limit_auth: str = "10/minute"
    #: Per address on register: how many accounts one address may try to create.
    rate_limit_register: str = "10/hour"
    rate_limit_default: str = "100/second"
    db_pool_max: int = 20
    #: A gateway request waits at most this long for each database read it makes (a free
    #: pool connection and the statements); past it, `503 database_timeout`. A silent
    #: database (a cut host: no reset) would otherwise hold it for asyncpg's 30 s.
    db_request_timeout_seconds: float = 5.0
    #: Who may read GET /metrics: addresses or CIDR networks (default: loopback and the
    #: private networks, where Prometheus runs beside the gateway).
    metrics_allowed: frozenset[str] = frozenset({
        "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
        "fc00::/7"})
    #: GET /api/health answers from a probe at most this old.
    health_cache_seconds: float = 1.0
    #: Open connections per gateway process; more are answered `503 overloaded` and closed.
    max_connections: int = 10_000
    #: Open event streams (`GET /api/stream`) per gateway process, per user, per address.
    max_streams: int = 5_000
    max_streams_per_user: int = 5
    max_streams_per_address: int = 50
    #: A connection idle this long is closed: before its first request head is complete
    #: (idle or slowloris), or between keep-alive requests.
    idle_timeout_seconds: float = 10.0
    #: A request body that has not fully arrived this long after its head answers 408.
    body_timeout_seconds: float = 10.0
    #: Shard worker processes `ticketwar run` starts when AMQP_URL is set.
    shard_workers: int = 2
    #: This worker's number (0-based): it becomes the active consumer of the shard queues
    #: n with n % shard_workers == index, and standby for the others.
    shard_worker_index: int = 0
    #: Shard worker i serves Prometheus metrics on this port + i (0: none).
    shard_metrics_port: int = 0
    #: Prefix of every RabbitMQ exchange and queue name (tests use their own).
    amqp_prefix: str = "ticketwar"
    #: How long a gateway trusts its cached copy of an event's static fields (name, sale
    #: start, limit); an edit through this gateway drops it at once.
    event_cache_seconds: float = 2.0
    #: Commands for one virtual bucket of events (see `amqp_buckets`) arriving within this
    #: window share one message.
    coalesce_ms: float = 2.0
    #: A shard worker sends at most one stock message per this many milliseconds (the
    #: first after a quiet spell at once); seats left are a hint, the actor decides.
    stock_interval_ms: float = 20.0
    #: Virtual buckets events are hashed into before RabbitMQ's consistent-hash exchange:
    #: the routing key, and the unit of coalescing. Enough for the exchange to spread them
    #: evenly over the shard queues; each distinct one costs its own message per window.
    amqp_buckets: int = 256
    #: How long the gateway waits for a broker confirm; past it the outcome is unknown (202).
    publish_timeout_seconds: float = 5.0
    #: A command whose delivery is unknown is re-sent until the broker confirms it; past this
    #: it is recorded as rejected with reason `lost`.
    lost_after_seconds: float = 60.0
    #: Booking and cancel requests this gateway process works on at once, at most; more are
    #: refused at once with 503 + Retry-After, before any side effect. Little's law sizes it:
    #: capacity x the latency to keep (~440 req/s x 0.3 s on the 2-core machine; in `make
    #: soak` at twice the capacity, 2000 and 256 let p99 exceed 1 s, 128 kept it at 0.7 s).
    max_requests_in_flight: int = 128
    #: Waiting-room joins this host's gateway works on at once (each process its share),
    #: apart from the bookings': a join is cheap for the actor (one row in the group
    #: commit) and the rush comes all at once. Under the booking bound, 64 joins in flight
    #: per process met a queue-rush's 880 joins a second with 37,600 `503`s, whose retries
    #: then took the CPU the joins needed (docs/benchmarks.md, the waiting room).
    max_joins_in_flight: int = 2048
    #: Commands a shard actor may have waiting in its mailbox (in-process); more are refused.
    shard_backlog: int = 20000
    #: How long a stopping process may take to finish the batches in flight; past it they
    #: are abandoned (the broker redelivers them) and the process exits non-zero.
    shutdown_deadline_seconds: float = 30.0
    #: A broker connection not back within this makes a shard worker exit (and restart).
    reconnect_deadline_seconds: float = 60.0
    #: Fault tests only (shards/faults.py), e.g. `crash_after_commit:3`. Empty in production.
    fault_injection: str = ""
    #: Mount POST /api/bench/book/{id} (no-op booking) for measuring the gateway's ceiling.
    bench_endpoints: bool = False
    log_level: str = "INFO"
    #: Gateway processes `ticketwar run` starts and supervises when AMQP_URL is set, all on
    #: one port (SO_REUSEPORT); the in-process transport always runs one.
    gateway_processes: int = field(default_factory=lambda: os.cpu_count() or 1)
    #: This gateway process's number (0-based), set by `ticketwar run` for each it starts.
    gateway_process_index: int = 0
    #: Gateway process i also serves GET /metrics, alone, on this port + i (0: none).
    gateway_metrics_port: int = 0
    #: Who takes the money for paid events: `fake`; empty means `fake` with the embedded
    #: database and refuses to start on a configured one (engine/payments/registry.py).
    payment_provider: str = ""
    #: The fake provider's delay per charge in seconds: `low-high` (uniform) or one value.
    fake_payment_latency: str = "1-2"
    #: How long POST /pay waits for the provider and the actor before answering 202.
    payment_wait_seconds: float = 5.0
    #: The secret the provider signs its webhooks with (`POST /api/payments/webhook`);
    #: unset, the route takes nothing (`404 webhooks_disabled`) and recovery alone settles
    #: lost answers.
    payment_webhook_secret: Secret | None = None
    #: Where the fake provider sends the webhooks of its `tok_timeout` charges (this
    #: gateway's `/api/payments/webhook`, signed with PAYMENT_WEBHOOK_SECRET); empty: none.
    fake_payment_webhook_url: str = ""
    #: How emails leave: `log` (written to the log) or `smtp`; empty means `smtp` when
    #: SMTP_URL is set, else `log` (engine/notify/registry.py).
    notifier: str = ""
    #: The SMTP server of the `smtp` notifier: `smtp://[user:password@]host[:port]`, or
    #: `smtps://` for TLS from the start.
    smtp_url: Secret | None = None
    #: The From of every email; its domain also ends every Message-ID.
    mail_from: str = "Ticket War <tickets@localhost>"
    #: Days a sent (or given-up) notification is kept before the sender deletes it: long
    #: enough to answer "did you email me?", short enough that the outbox does not grow
    #: with every booking ever made.
    notification_retention_days: int = 30
    #: Batches of emails one outbox sender sends at once, each over its own SMTP
    #: connection: 1 for a relay that allows a client one connection at a time.
    mail_connections: int = 2

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise SettingsError("SHARDS must be at least 1")
        if self.payment_provider not in ("", "fake"):
            raise SettingsError(f"PAYMENT_PROVIDER={self.payment_provider!r}: not one of fake")
        parse_latency(self.fake_payment_latency)
        self._check_webhooks()
        if self.notifier not in ("", "log", "smtp"):
            raise SettingsError(f"NOTIFIER={self.notifier!r}: not one of log, smtp")
        if self.notifier == "smtp" and self.smtp_url is None:
            raise SettingsError("NOTIFIER=smtp needs SMTP_URL")
        if self.notification_retention_days < 1:
            raise SettingsError("NOTIFICATION_RETENTION_DAYS must be at least 1")
        if self.mail_connections < 1:
            raise SettingsError("MAIL_CONNECTIONS must be at least 1")
        if "@" not in parseaddr(self.mail_from)[1]:
            raise SettingsError(f"MAIL_FROM={self.mail_from!r}: not an email address")
        if self.amqp_buckets < 1:
            raise SettingsError("AMQP_BUCKETS must be at least 1")
        if self.booking_strategy is Strategy.NAIVE and not self.allow_naive:
            raise SettingsError(
                "BOOKING_STRATEGY=naive oversells on purpose; set ALLOW_NAIVE=1 to opt in"
            )
        if self.jwt_secret is not None and len(self.jwt_secret.reveal()) < MIN_JWT_SECRET_BYTES:
            raise SettingsError(f"JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes")
        if self.max_quantity < 1:
            raise SettingsError("MAX_QUANTITY must be at least 1")
        if self.log_level.upper() not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL={self.log_level!r}: not one of "
                                f"{', '.join(LOG_LEVELS)}")
        caps = ("max_connections", "max_streams", "max_streams_per_user",
                "max_streams_per_address")
        for cap in caps:
            if getattr(self, cap) < 1:
                raise SettingsError(f"{cap.upper()} must be at least 1")
        for entry in self.metrics_allowed:
            try:
                ip_network(entry, strict=False)
            except ValueError as exc:
                raise SettingsError(f"METRICS_ALLOWED: {exc}") from exc
        for timeout in ("idle_timeout_seconds", "body_timeout_seconds",
                        "db_request_timeout_seconds"):
            if getattr(self, timeout) <= 0:
                raise SettingsError(f"{timeout.upper()} must be more than 0")
        if self.gateway_processes < 1:
            raise SettingsError("GATEWAY_PROCESSES must be at least 1")
        for window in ("coalesce_ms", "stock_interval_ms"):
            if getattr(self, window) < 0:
                raise SettingsError(f"{window.upper()} must not be negative")

    def _check_webhooks(self) -> None:
        secret = self.payment_webhook_secret
        if secret is not None and len(secret.reveal().encode()) < MIN_WEBHOOK_SECRET_BYTES:
            raise SettingsError(
                f"PAYMENT_WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes")
        url = self.fake_payment_webhook_url
        if url and secret is None:
            raise SettingsError("FAKE_PAYMENT_WEBHOOK_URL needs PAYMENT_WEBHOOK_SECRET to sign "
                                "with")
        if url and not url.startswith(("http://", "https://")):
            raise SettingsError(f"FAKE_PAYMENT_WEBHOOK_URL={url!r}: not an http(s) URL")

    @property
    def transport(self) -> str:
        """`rabbitmq` when AMQP_URL is set, else the in-process transport."""
        return "rabbitmq" if self.amqp_url is not None else "inproc"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (names are the upper-cased fields)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        kw: dict[str, object] = {}
        for name in ("DATABASE_URL", "AMQP_URL", "JWT_SECRET", "SMTP_URL",
                     "PAYMENT_WEBHOOK_SECRET"):
            if (value := get(name)) is not None:
                kw[name.lower()] = Secret(value)
        casts = {f.name: f.type for f in fields(cls)}
        for name, cast in casts.items():
            raw = get(name.upper())
            if raw is None or name in kw:
                continue
            try:
                if cast in ("int", int):
                    kw[name] = int(raw)
                elif cast in ("float", float):
                    kw[name] = float(raw)
                elif cast in ("bool", bool):
                    kw[name] = _bool(raw)
                elif cast in ("Path", Path):
                    kw[name] = Path(raw)
                elif cast in ("Strategy", Strategy):
                    kw[name] = Strategy(raw.lower())
                elif cast in ("frozenset[str]",):
                    kw[name] = frozenset(p.strip() for p in raw.split(",") if p.strip())
                else:
                    kw[name] = raw
            except ValueError as exc:
                raise SettingsError(f"{name.upper()}={raw!r}: {exc}") from exc
        return cls(**kw)  # type: ignore[arg-type]

    def with_jwt_secret(self) -> Settings:
        """These settings with a JWT secret: the configured one, else one kept under data_dir.

        The generated secret is created once, with mode 0600, so tokens survive restarts
        and no fixed default ever exists.
        """
        if self.jwt_secret is not None:
            return self
        path = self.data_dir / "jwt_secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return _replace(self, jwt_secret=Secret(path.read_text().strip()))


def _replace(settings: Settings, **changes: object) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)  # type: ignore[arg-type]
