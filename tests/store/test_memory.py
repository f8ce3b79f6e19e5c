"""The embedded engine gives back the memory a call freed (streams.store.memory)."""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import re
import subprocess
import sys

from streams.paths import ROOT
from streams.store.memory import MemoryRelease, page_out

# About 200 MB of jemalloc's pages, freed (but kept) once the query ends.
HEAVY = "SELECT groupArray(number) FROM numbers(8000000) FORMAT Null"


def freed_kept_mb(client) -> float:
    """What jemalloc keeps resident with nothing allocated in it: pages freed, not given back.
    (Memory in use elsewhere in the engine at that moment is not counted: not ours to give.)"""
    stats = client.query("SELECT * FROM system.jemalloc_stats").result_rows[0][0]
    active, metadata, resident = re.search(r"active: (\d+), metadata: (\d+).*?resident: (\d+)", stats).groups()
    return (int(resident) - int(active) - int(metadata)) / 2**20


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_what_a_query_freed_is_given_back_at_most_every_interval(client):
    clock = Clock()
    release = MemoryRelease(embedded=True, every=1.0, clock=clock)
    client.command(HEAVY)
    kept = freed_kept_mb(client)
    assert kept > 150
    assert release.after_call(client)  # the first call always gives back
    assert freed_kept_mb(client) < kept / 2

    client.command(HEAVY)
    clock.now += 0.5
    assert not release.after_call(client) and freed_kept_mb(client) > 150  # within the interval
    clock.now += 0.5
    assert release.after_call(client) and freed_kept_mb(client) < kept / 2


def test_within_a_call_memory_is_given_back_now_whatever_the_interval(client):
    clock = Clock()
    release = MemoryRelease(embedded=True, every=60.0, clock=clock)
    assert release.after_call(client)
    client.command(HEAVY)
    kept = freed_kept_mb(client)
    assert not release.after_call(client) and freed_kept_mb(client) > kept / 2  # within the interval
    assert release.now(client) and freed_kept_mb(client) < kept / 2
    client.command(HEAVY)
    assert not release.after_call(client)  # `now` restarted the interval


def test_a_server_is_left_to_manage_its_own_memory():
    release = MemoryRelease(embedded=False, every=0.0)
    assert not release.after_call(None)  # not even the client is touched
    assert not release.now(None)


def test_an_engine_that_cannot_purge_is_warned_about_once_and_trimmed_still(client, caplog):
    client.close()  # every statement now fails, as on a chDB without jemalloc
    release = MemoryRelease(embedded=True, every=0.0)
    with caplog.at_level(logging.WARNING, logger="streams.store.memory"):
        assert release.after_call(client) and release.after_call(client)  # glibc's part still runs
    assert [r.message.count("did not give memory back") for r in caplog.records] == [1]


def test_the_store_thread_gives_back_within_a_call_when_asked(store_thread, client):
    def heavy_then_given_back(c):
        c.command(HEAVY)
        kept = freed_kept_mb(c)
        store_thread.give_back(c)
        return kept, freed_kept_mb(c)

    async def scenario():
        await store_thread.run(lambda c: None)  # the interval starts now
        kept, after = await store_thread.run(heavy_then_given_back)
        assert kept > 150 and after < kept / 2

    asyncio.run(scenario())


def test_the_store_thread_gives_back_after_its_calls_the_reader_does_not(store_thread, client):
    async def scenario():
        await asyncio.wrap_future(store_thread.read_ahead(lambda c: c.command(HEAVY)))
        kept = freed_kept_mb(client)
        assert kept > 150
        await store_thread.run(lambda c: None)
        assert freed_kept_mb(client) < kept / 2

    asyncio.run(scenario())


def resident_file_mb() -> float:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("RssFile:")).split()[1]) / 1024


def test_a_mapped_file_is_paged_out_and_reads_back_the_same(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(bytes(range(256)) * 32768)  # 8 MB
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mapped:
        content = bytes(mapped)  # every page read: resident
        before = resident_file_mb()
        assert page_out(str(tmp_path / "other")) == 0  # not mapped: nothing advised
        assert page_out(str(path)) == 8 * 2**20
        assert before - resident_file_mb() > 6
        assert bytes(mapped) == content


def test_the_engines_start_up_code_is_paged_out_once_the_store_is_open(tmp_path):
    # Importing chDB leaves 180–280 MB of its library resident; the first give-back returns
    # it to the kernel, and the engine works on, faulting back what it runs.
    code = ("from streams.store.connection import connect; from streams.store.memory import MemoryRelease; "
            "from tests.store.test_memory import resident_file_mb as rss; "
            f"c = connect('chdb://{tmp_path}/store'); release = MemoryRelease(embedded=True, every=0.0); "
            "opened = rss(); release.after_call(c); paged = rss(); "
            "n = c.query('SELECT count() FROM system.tables').result_rows[0][0]; release.after_call(c); "
            "print(round(opened), round(paged), round(rss()), n > 0)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    opened, paged, later, answered = done.stdout.split()
    assert int(opened) > 100 and int(paged) < int(opened) / 4, done.stdout
    assert answered == "True" and int(later) < int(opened) / 2, done.stdout  # not paged back in whole


def kept_after_a_heavy_query(tmp_path, env: dict[str, str]) -> tuple[str, int, int]:
    """In a fresh process (the engine's allocator reads its options once, as chDB loads):
    JE_MALLOC_CONF after the store opened, then what the engine keeps of a heavy query's
    freed pages right after it and a second later — nothing given back by the worker."""
    code = ("import os, time; from streams.store.connection import connect; "
            "from tests.store.test_memory import HEAVY, freed_kept_mb as kept; "
            f"c = connect('chdb://{tmp_path}/store'); print(os.environ.get('JE_MALLOC_CONF')); "
            "c.command(HEAVY); first = kept(c); time.sleep(1.0); print(round(first), round(kept(c)))")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "JE_MALLOC_CONF"} | env
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    variable, amounts = done.stdout.splitlines()
    first, later = amounts.split()
    return variable, int(first), int(later)


def test_the_engine_gives_back_on_its_own_what_it_freed_a_moment_ago(tmp_path):
    variable, first, later = kept_after_a_heavy_query(tmp_path, {})
    assert variable == "None"  # set while chDB loaded, not left for the worker's children
    # ~200 MB freed (the next test keeps them, as ClickHouse's own setting does for 5 s)
    assert later < 20, (first, later)


def test_a_users_allocator_options_win(tmp_path):
    variable, first, later = kept_after_a_heavy_query(tmp_path, {"JE_MALLOC_CONF": "dirty_decay_ms:5000"})
    assert variable == "dirty_decay_ms:5000"
    assert first > 150 and later > 150, (first, later)  # kept, as they asked
