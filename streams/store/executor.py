"""The store thread: every ClickHouse call of a worker, off the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from clickhouse_connect.driver.client import Client

from streams.store.connection import connect


class StoreExecutor:
    """The one thread every store call of a worker runs on: chDB is synchronous and admits
    one client per process, and one thread makes check-then-insert atomic."""

    def __init__(self, dsn: str):
        self._dsn = dsn
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self._client: Client | None = None

    async def run(self, fn, *args, **kwargs):
        """Run `fn(client, *args, **kwargs)` on the store thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self._call, fn, *args, **kwargs))

    def _call(self, fn, *args, **kwargs):
        if self._client is None:
            self._client = connect(self._dsn)
        return fn(self._client, *args, **kwargs)

    async def open(self) -> None:
        await self.run(lambda client: None)

    def close(self) -> None:
        def _close():
            if self._client is not None:
                self._client.close()
                self._client = None

        self._executor.submit(_close).result()
        self._executor.shutdown(wait=True)
