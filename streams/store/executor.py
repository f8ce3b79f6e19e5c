"""The store thread: every ClickHouse call of a worker, off the event loop; and a reader
thread beside it, for reads that may run while the store thread works."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from clickhouse_connect.driver.client import Client

from streams.config import embedded_store
from streams.store.connection import connect
from streams.store.memory import MemoryRelease


class StoreExecutor:
    """The one thread every store call of a worker runs on (chDB is synchronous, and one
    thread makes check-then-insert atomic), and the reader thread beside it."""

    def __init__(self, dsn: str):
        self._dsn = dsn
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self._client: Client | None = None
        self._release = MemoryRelease(embedded=embedded_store(dsn))
        # Its own client: chDB admits several in one process, and a server's client must not
        # run two queries at once in one session.
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse-reader")
        self._reader_client: Client | None = None

    async def run(self, fn, *args, **kwargs):
        """Run `fn(client, *args, **kwargs)` on the store thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self._call, fn, *args, **kwargs))

    def _call(self, fn, *args, **kwargs):
        if self._client is None:
            self._client = connect(self._dsn)
        result = fn(self._client, *args, **kwargs)
        self._release.after_call(self._client)  # what the embedded engine freed, given back
        return result

    def give_back(self, client: Client) -> None:
        """What the embedded engine freed, given back now, within a call on the store
        thread: `write_batch` between its lookups and its insert (step 29)."""
        self._release.now(client)

    def read_ahead(self, fn, *args, **kwargs) -> Future:
        """Run `fn(client, *args, **kwargs)` on the reader thread, with a client of its own:
        a read that goes on while the store thread works (the catch-up reads the metrics of
        its next midnights while it decides the last ones). Never a write: writes stay on
        the store thread, where check-then-insert is atomic."""
        return self._reader.submit(self._read, fn, *args, **kwargs)

    def _read(self, fn, *args, **kwargs):
        if self._reader_client is None:
            self._reader_client = connect(self._dsn, migrate=False)  # the store thread migrated it
        return fn(self._reader_client, *args, **kwargs)

    async def open(self) -> None:
        await self.run(lambda client: None)

    def close(self) -> None:
        # The reader first: a read still running ends before its client closes.
        self._reader.submit(self._drop, "_reader_client").result()
        self._reader.shutdown(wait=True)
        self._executor.submit(self._drop, "_client").result()
        self._executor.shutdown(wait=True)

    def _drop(self, name: str) -> None:
        client = getattr(self, name)
        if client is not None:
            client.close()
            setattr(self, name, None)
