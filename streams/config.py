"""Configuration from the environment (../shared/CONTRACT.md §5)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

TOPIC_EVENTS = "engagement-events"
TOPIC_DLQ = "engagement-events-dlq"
TOPIC_ALERTS = "partner-alerts"
DATABASE = "partnerpulse"
# Tansu holds a group join for about half the session timeout: the embedded broker's
# consumer gets a short one (its one member heartbeats every 0.7 s on the same machine).
EMBEDDED_SESSION_TIMEOUT = 4.0


def embedded_store(dsn: str) -> bool:
    """Whether a ClickHouse DSN names the embedded engine (chDB, in this process)."""
    return dsn.startswith("chdb:")


@dataclass(frozen=True)
class Settings:
    kafka: str | None  # bootstrap servers; None = the embedded broker
    clickhouse: str  # DSN: http(s)://user:pass@host:port/db or chdb:///path
    data_dir: Path
    partitions: int = 4
    # Consumer-group timeouts in seconds; None = faust's defaults (for real Kafka).
    session_timeout: float | None = None
    heartbeat_interval: float | None = None
    webhooks: tuple[str, ...] = ()  # alert webhook URLs
    webhook_secret: str | None = None  # HMAC-SHA256 key for the signature header
    ingest_tokens: tuple[str, ...] = ()  # bearer tokens accepted by POST /events
    read_tokens: tuple[str, ...] = ()  # bearer tokens for /api/* and /status
    admin_tokens: tuple[str, ...] = ()  # bearer tokens for reading and /dlq/replay
    token: str | None = None  # what the CLI presents to a running pipeline (else the runtime file's)
    public_port: int | None = None  # a second port serving only POST /events and the probes
    # Seconds Kafka may stay unreachable: then a worker stops (non-zero exit status, for
    # an orchestrator to restart it) and `send` reports what was not acknowledged.
    broker_timeout: float = 60.0
    # Records read and stored per batch, at most: larger batches are faster (fewer, larger
    # inserts) and hold more memory (two batches are in flight).
    batch_size: int = 20_000
    web_bind: str = "127.0.0.1"  # where the pipeline's HTTP port listens
    web_port: int | None = None  # None = a free port

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka is None

    @property
    def embedded_clickhouse(self) -> bool:
        return embedded_store(self.clickhouse)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every configured secret: none of them may appear in a log line or an error."""
        password = urlsplit(self.clickhouse).password
        tokens = (*self.ingest_tokens, *self.read_tokens, *self.admin_tokens, self.token)
        return tuple(s for s in (password, self.webhook_secret, *tokens) if s)

    def scrub(self, text: str) -> str:
        """`text` (an error message, say) with every secret replaced by ***."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    @property
    def runtime_file(self) -> Path:
        """Written by a running pipeline so other commands can find it."""
        return self.data_dir / "pipeline.json"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "partnerpulse"


def load(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("PARTNERPULSE_DATA_DIR") or default_data_dir()).expanduser().resolve()
    kafka = env.get("PARTNERPULSE_KAFKA") or None
    clickhouse = env.get("PARTNERPULSE_CLICKHOUSE") or f"chdb://{data_dir / 'clickhouse'}"
    # A Tansu started elsewhere needs a short session set explicitly (see EMBEDDED_SESSION_TIMEOUT).
    session = env.get("PARTNERPULSE_SESSION_TIMEOUT") or (str(EMBEDDED_SESSION_TIMEOUT) if kafka is None else None)
    return Settings(
        kafka=kafka,
        clickhouse=clickhouse,
        data_dir=data_dir,
        partitions=int(env.get("PARTNERPULSE_PARTITIONS", "4")),
        session_timeout=float(session) if session else None,
        heartbeat_interval=max(0.5, float(session) / 6) if session else None,
        webhooks=_list(env.get("PARTNERPULSE_WEBHOOKS")),
        webhook_secret=env.get("PARTNERPULSE_WEBHOOK_SECRET") or None,
        ingest_tokens=_list(env.get("PARTNERPULSE_INGEST_TOKENS")),
        read_tokens=_list(env.get("PARTNERPULSE_READ_TOKENS")),
        admin_tokens=_list(env.get("PARTNERPULSE_ADMIN_TOKENS")),
        token=env.get("PARTNERPULSE_TOKEN") or None,
        public_port=int(env["PARTNERPULSE_PUBLIC_PORT"]) if env.get("PARTNERPULSE_PUBLIC_PORT") else None,
        broker_timeout=float(env.get("PARTNERPULSE_BROKER_TIMEOUT") or 60),
        batch_size=max(1, int(env.get("PARTNERPULSE_BATCH_SIZE") or 20_000)),
        web_bind=env.get("PARTNERPULSE_WEB_BIND") or "127.0.0.1",
        web_port=int(env["PARTNERPULSE_WEB_PORT"]) if env.get("PARTNERPULSE_WEB_PORT") else None,
    )


def _list(value: str | None) -> tuple[str, ...]:
    """A comma- or space-separated setting."""
    return tuple(v for v in (value or "").replace(",", " ").split() if v)


def clickhouse_cluster() -> str | None:
    """PARTNERPULSE_CLICKHOUSE_CLUSTER: use the replicated, sharded migrations."""
    return os.environ.get("PARTNERPULSE_CLICKHOUSE_CLUSTER") or None


def scoring_file() -> str | None:
    """PARTNERPULSE_SCORING: a scoring.yaml laid over the defaults."""
    return os.environ.get("PARTNERPULSE_SCORING") or None


def ideal_partner_file() -> str | None:
    """PARTNERPULSE_IDEAL_PARTNER: the vendor's ideal partner (fit, §8) instead of the default."""
    return os.environ.get("PARTNERPULSE_IDEAL_PARTNER") or None


def grafana_token() -> str | None:
    return os.environ.get("GRAFANA_TOKEN") or None


def child_environment(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child `partnerpulse` process that runs with `settings`."""
    env = {**os.environ, **(extra or {}), "PARTNERPULSE_DATA_DIR": str(settings.data_dir),
           "PARTNERPULSE_CLICKHOUSE": settings.clickhouse, "PARTNERPULSE_BATCH_SIZE": str(settings.batch_size)}  # fmt: skip
    if settings.kafka:
        env["PARTNERPULSE_KAFKA"] = settings.kafka
    if settings.session_timeout:
        env["PARTNERPULSE_SESSION_TIMEOUT"] = str(settings.session_timeout)
    return env


def redact(dsn: str) -> str:
    """A DSN fit for logs and error messages: the password never leaves the process."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


# chDB's jemalloc (compiled in, its names prefixed) reads its options from this variable,
# once, as the library loads. Freed pages given back after 100 ms instead of 5 s: all
# the way to 0 gave 442–458 MB at 2M events, but ingest ~20% slower (every free a system
# call, every reuse a page fault); 1 s kept it at 502–526 MB (benchmarks/README.md, step
# 39; streams/store/memory.py says why).
ENGINE_ALLOCATOR = ("JE_MALLOC_CONF", "dirty_decay_ms:100")


@contextmanager
def engine_allocator() -> Iterator[None]:
    """Around loading chDB: its allocator's options, unless the user set the variable
    (theirs wins); the environment is as it was afterwards (children do not inherit it)."""
    name, value = ENGINE_ALLOCATOR
    ours = name not in os.environ
    if ours:
        os.environ[name] = value
    try:
        yield
    finally:
        if ours:
            os.environ.pop(name, None)
