"""The embedded engine's freed memory given back to the system after the store's calls.

Why: chDB runs ClickHouse inside the worker. After each batch its allocator (jemalloc,
compiled into chDB) keeps the pages the insert freed, and glibc's main heap keeps what
the batch's Python objects and ClickHouse's own C code freed: measured after 300k events,
~13 MB in use of ~200 MB held by glibc, and ~120 MB more held by jemalloc. Neither is
given back on its own soon enough, so a worker's resident memory grew by ~250 MB within
a second of batches. `SYSTEM JEMALLOC PURGE` (ClickHouse's own statement) and glibc's
`malloc_trim` return them (~6 ms and ~10–25 ms on the store thread): ingesting 500k
events, the worker's peak fell from 844 to ~720 MB on its own, to 557–621 MB with the
rows right-sized (`streams.formats.json_bytes`), ingest as fast within noise
(benchmarks/README.md, step 27).

Once, at the first give-back after the store opened, the chDB library's pages are handed
back to the kernel too (`page_out`): importing chDB runs ClickHouse's start-up code
(registering every function, format and engine), which left ~280 MB of the 555 MB
library resident, most of it never run again. They are clean pages of a file, so the
kernel reclaims them at once; what the worker goes on running faults back in (~110–130 MB).
Ingesting 2M events, store-only: peak 634 → 479 MB (benchmarks/README.md, step 31).

The engine's allocator also gives back by itself what it freed more than a tenth of a
second ago (`config.ENGINE_ALLOCATOR`, set as chDB loads), where ClickHouse's own
setting keeps it five seconds: a batch's store step runs while merges free their pages
beside it, and those pages stayed resident until the give-back after the step.
Ingesting 2M events: peak 490–515 → 472–500 MB (medians 504 → 475), ingest within a few
per cent (benchmarks/README.md, step 39). The purge stays beside it: it returns at once
what the last tenth of a second freed, before an insert; without it the process's own
memory peaked ~20 MB higher at 2M events, ingest no faster (twelfth pass).

A ClickHouse server manages its own memory: with one, nothing is done here.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import sys
import time
from collections.abc import Callable

from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

# Often enough that each stored batch gives back what it freed (a few a second), not
# after every small read in a burst of them.
EVERY_SECONDS = 0.1


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # glibc; elsewhere there is nothing to trim
    except (OSError, AttributeError):
        return None


MADV_PAGEOUT = 21  # linux/mman.h, Linux 5.4 and later
_LIBRARY_MODULE = "chdb._chdb"  # the extension that holds all of ClickHouse


def page_out(path: str) -> int:
    """Ask the kernel to reclaim now the resident pages of every mapping of the file at
    `path` in this process; the bytes of mappings advised. The pages are read back from
    the file when used again, so nothing is lost. OSError if the kernel refuses (EINVAL
    before Linux 5.4); pages another process maps too are left as they are."""
    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    advised = 0
    with open("/proc/self/maps") as maps:
        spans = [line.rstrip("\n").split(maxsplit=5) for line in maps]  # the path may hold spaces
    for span in spans:
        if len(span) == 6 and span[5] == path:
            start, end = (int(x, 16) for x in span[0].split("-"))
            if madvise(start, end - start, MADV_PAGEOUT) != 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), path)
            advised += end - start
    return advised


class MemoryRelease:
    """Called after each call on the store thread; gives memory back unless it did so
    within `every` seconds. Never raises: memory is not worth a failed batch."""

    def __init__(self, embedded: bool, every: float = EVERY_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._purge = embedded
        self._every = every
        self._clock = clock
        self._last = -math.inf  # the first call gives back what opening the store left
        self._trim = _malloc_trim() if embedded else None
        self._library_paged_out = not embedded

    def after_call(self, client: Client) -> bool:
        """Whether memory was given back now."""
        at = self._clock()
        return at - self._last >= self._every and self._give_back(client, at)

    def now(self, client: Client) -> bool:
        """Give memory back now, whatever the interval: also between the steps of one call
        (a batch's lookups and its insert, `streams.store.writes.write_batch`)."""
        return self._give_back(client, self._clock())

    def _give_back(self, client: Client, at: float) -> bool:
        if not (self._purge or self._trim):
            return False
        self._last = at
        if self._purge:
            try:
                client.command("SYSTEM JEMALLOC PURGE")
            except Exception as exc:  # a chDB built without jemalloc: glibc's part still helps
                log.warning("the embedded engine did not give memory back (%s); not asked again", exc)
                self._purge = False
        if self._trim is not None:
            self._trim(0)
        if not self._library_paged_out:
            self._library_paged_out = True  # once: what runs later is the worker's own
            self._page_out_library()
        return True

    @staticmethod
    def _page_out_library() -> None:
        library = getattr(sys.modules.get(_LIBRARY_MODULE), "__file__", None)
        if library is None:  # a server after all, or a chDB laid out otherwise
            return
        try:
            advised = page_out(os.path.realpath(library))
        except OSError as exc:
            log.warning("the embedded engine's start-up code stays resident (%s)", exc)
        else:
            log.debug("%.0f MB of %s's mappings paged out", advised / 2**20, library)
