"""ClickHouse access: connecting by DSN (server or embedded chDB) and migrations.

Every call here is synchronous; async callers run them on the store's own thread
(see `streams.store.writes`).
"""

from __future__ import annotations

import fcntl
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver import options as client_options
from clickhouse_connect.driver.client import Client

from streams.config import DATABASE, clickhouse_cluster, embedded_store, engine_allocator, redact
from streams.errors import StoreError
from streams.paths import SCHEMAS_DIR

MIGRATIONS_DIR = SCHEMAS_DIR / "clickhouse"

# clickhouse-connect imports pandas (and with it pyarrow) the first time a client inserts
# rows, only to ask whether they came as a DataFrame: ~67 MB resident in every worker,
# for nothing (rows here are tuples); numpy, pyarrow and polars likewise on first use.
# Set as it sets them when they are not installed.
client_options.pd = client_options.pd_time_test = None
client_options.np = client_options.arrow = client_options.pl = None

# What chDB imports, when installed, for its Arrow and DataFrame APIs, which nothing here
# calls (clickhouse-connect reads chDB's Native output): ~37 MB resident (RSS 288 → 251 MB
# for an opened store).
_UNUSED_BY_CHDB = ("pyarrow", "numpy")


def import_chdb() -> None:
    """Import chDB with `_UNUSED_BY_CHDB` hidden (chDB takes them as optional), then
    unhidden: a later `import pyarrow` elsewhere in the process works as before. Its
    allocator's options are set as it loads (`config.engine_allocator`)."""
    if "chdb" in sys.modules:
        return
    if not any(name in sys.modules for name in _UNUSED_BY_CHDB):  # else someone uses them: nothing to save
        sys.modules.update(dict.fromkeys(_UNUSED_BY_CHDB))  # None: "not installed" to `import`
    try:
        with engine_allocator():
            import chdb.state  # noqa: F401  (chdb.connect imports it on first use)
    except ImportError:
        pass  # a chDB that needs them after all: clickhouse-connect imports it as it is
    finally:
        for name in _UNUSED_BY_CHDB:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


@dataclass(frozen=True)
class Target:
    dsn: str
    database: str


def parse_dsn(dsn: str) -> Target:
    parts = urlsplit(dsn)
    if parts.scheme == "chdb":
        return Target(dsn, DATABASE)
    if parts.scheme in ("http", "https"):
        database = unquote(parts.path.strip("/")) or DATABASE
        base = parts._replace(path="").geturl()
        return Target(base, database)
    raise StoreError(
        f"PARTNERPULSE_CLICKHOUSE={redact(dsn)!r} is not understood: use http(s)://user:pass@host:port/db "
        "for a ClickHouse server or chdb:///path for the embedded engine"
    )


def connect(dsn: str, migrate: bool = True) -> Client:
    """A client on the PartnerPulse database, created and migrated if needed."""
    target = parse_dsn(dsn)
    cluster = clickhouse_cluster()
    if cluster and embedded_store(target.dsn):
        raise StoreError(
            f"PARTNERPULSE_CLICKHOUSE_CLUSTER={cluster!r} needs a ClickHouse server cluster, not the embedded engine: "
            "unset it, or point PARTNERPULSE_CLICKHOUSE at the cluster"
        )
    if embedded_store(target.dsn):
        Path(urlsplit(target.dsn).path).mkdir(parents=True, exist_ok=True)
        import_chdb()
    try:
        client = clickhouse_connect.get_client(dsn=target.dsn)
        on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
        client.command(f"CREATE DATABASE IF NOT EXISTS `{target.database}`{on_cluster}")
        client.database = target.database
        client.command(f"USE `{target.database}`")
        if migrate:
            apply_migrations(client, cluster)
    except Exception as exc:  # network, server and chDB engine errors alike
        if embedded_store(target.dsn) and _locked(Path(urlsplit(target.dsn).path)):
            raise StoreError(
                f"the embedded ClickHouse at {redact(dsn)} is in use by another process "
                "(a `partnerpulse up` or `demo` on the same data dir?); stop it, or use another PARTNERPULSE_DATA_DIR"
            ) from exc
        raise StoreError(f"cannot open ClickHouse at {redact(dsn)}: {_first_line(exc)}") from exc
    return client


def _locked(path: Path) -> bool:
    """Whether another process holds the embedded engine's lock on `path`."""
    try:
        with open(path / "status", "rb") as status:
            fcntl.flock(status, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(status, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def migration_files(cluster: str | None = None) -> list[tuple[int, str, Path]]:
    folder = MIGRATIONS_DIR / "cluster" if cluster else MIGRATIONS_DIR
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = re.match(r"(\d+)_(.+)\.sql$", path.name)
        if match:
            found.append((int(match.group(1)), match.group(2), path))
    versions = [v for v, _, _ in found]
    if len(versions) != len(set(versions)):
        raise StoreError(f"two migrations share a version number in {MIGRATIONS_DIR}")
    return found


def split_statements(sql: str) -> list[str]:
    """Statements of a migration file: `;` at the end of a line ends one."""
    no_comments = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*$", no_comments, flags=re.MULTILINE) if s.strip()]


def apply_migrations(client: Client, cluster: str | None = None) -> list[int]:
    """Apply the migrations not yet recorded, in order; returns the versions applied."""
    columns = "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))"
    if cluster:
        # One table replicated on every node (no {shard} in the path).
        client.command(
            f"CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER '{cluster}' {columns} ENGINE = "
            "ReplicatedMergeTree('/clickhouse/tables/{database}/schema_migrations', '{replica}') ORDER BY version"
        )
    else:
        client.command(f"CREATE TABLE IF NOT EXISTS schema_migrations {columns} ENGINE = MergeTree ORDER BY version")
    done = {row[0] for row in client.query("SELECT version FROM schema_migrations").result_rows}
    applied = []
    for version, name, path in migration_files(cluster):
        if version in done:
            continue
        # Each statement is idempotent (IF NOT EXISTS), so a crash between a statement
        # and the record below is repaired by running the file again.
        for statement in split_statements(path.read_text()):
            client.command(statement)
        client.insert("schema_migrations", [(version, name)], column_names=["version", "name"])
        applied.append(version)
    return applied


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
