"""The command line as a user meets it: real subprocesses, real files."""

from __future__ import annotations

import subprocess
import sys

import orjson

from tests.conftest import EXAMPLES, cli, env_for


def test_send_without_a_pipeline_or_kafka_says_what_to_do(settings):
    result = cli(settings, "send", str(EXAMPLES / "events.jsonl"))
    assert result.returncode == 1
    assert b"partnerpulse up" in result.stderr and b"PARTNERPULSE_KAFKA" in result.stderr
    assert result.stdout == b""


def test_send_missing_file_is_a_clear_error(settings, tmp_path):
    result = cli(settings, "send", str(tmp_path / "nope.jsonl"))
    # The missing file is reported before anything else is tried.
    assert result.returncode == 1
    assert b"cannot read" in result.stderr and b"nope.jsonl: no such file" in result.stderr


def test_dlq_list_on_a_fresh_store_prints_an_empty_json_array(settings):
    result = cli(settings, "dlq", "list", "--format", "json")
    assert result.returncode == 0, result.stderr.decode()
    assert orjson.loads(result.stdout) == []


def test_up_refuses_a_store_it_cannot_understand(settings):
    env = env_for(settings) | {"PARTNERPULSE_CLICKHOUSE": "postgres://u:secret@db/x"}
    result = subprocess.run([sys.executable, "-m", "streams.cli", "up"], env=env, capture_output=True, timeout=60)
    assert result.returncode == 1
    assert b"chdb:///path" in result.stderr and b"secret" not in result.stderr


def test_help_lists_the_commands(settings):
    result = cli(settings, "--help")
    assert result.returncode == 0
    for command in (b"up", b"send", b"dlq", b"demo"):
        assert command in result.stdout


def test_a_store_held_by_another_process_is_explained(settings):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from streams.store.connection import connect; c = connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(60)", settings.clickhouse],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == b"ready\n"
        result = cli(settings, "dlq", "list")
        assert result.returncode == 1
        assert b"in use by another process" in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_tables_fit_an_80_column_terminal_and_bad_options_are_sentences(settings, pipeline):
    from tests.badinput import bad_records
    from tests.producing import send_raw

    assert cli(settings, "send", str(EXAMPLES / "events.jsonl")).returncode == 0
    from streams.broker.producer import open_producer

    producer = open_producer(pipeline.info["kafka"])
    send_raw(producer, [(None, raw) for _, _, raw in bad_records()[:3]])
    producer.close()
    pipeline.wait_processed(14 + 3)
    narrow = {"COLUMNS": "80"}
    partners = {r["partner_id"] for r in orjson.loads(cli(settings, "health", "--format", "json").stdout)}
    for args in (["health", "--as-of", "2026-12-01"], ["alerts"], ["dlq", "list"]):
        shown = cli(settings, *args, extra_env=narrow)
        assert shown.returncode == 0, shown.stderr.decode()
        lines = shown.stdout.decode().splitlines()
        assert lines and max(len(line) for line in lines) <= 80, args
    health = cli(settings, "health", "--as-of", "2026-12-01", extra_env=narrow).stdout.decode()
    assert all(p in health.replace("\n", "").replace("│", "").replace(" ", "") or p[:10] in health for p in partners)
    wide = cli(settings, "health", "--as-of", "2026-12-01", "--wide", extra_env=narrow).stdout.decode()
    assert "ecosystem" in wide and "ecosystem" not in health
    # Options given wrong: a sentence naming the option, no traceback.
    for args, words in ((["dlq", "list", "--limit", "-5"], b"--limit"), (["alerts", "--since", "notadate"], b"--since"),
                        (["health", "--partner", "no-such-partner"], b"no-such-partner")):  # fmt: skip
        bad = cli(settings, *args, extra_env=narrow)
        assert bad.returncode != 0 and words in bad.stderr and b"Traceback" not in bad.stderr, args
    assert cli(settings, "--version").stdout.startswith(b"partnerpulse ")
