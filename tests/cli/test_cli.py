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


def test_explain_through_the_pipeline_and_offline_agree(settings, pipeline):
    assert cli(settings, "send", str(EXAMPLES / "events.jsonl")).returncode == 0
    pipeline.wait_processed(14)
    question = ["explain", "acme-reseller", "--as-of", "2026-12-25", "--since", "2026-11-21T00:00:00Z"]
    online = cli(settings, *question, "--format", "json")
    assert online.returncode == 0, online.stderr.decode()
    answer = orjson.loads(online.stdout)
    # The window (21 Oct, 21 Nov] held the joint event of 30 Oct and the webinar of 20 Nov;
    # (25 Nov, 25 Dec] holds nothing: both left. The meeting of 21 Nov 08:15 is in neither.
    assert sorted((d["effect"], d["time"][:10]) for d in answer["drivers"]) == [
        ("left", "2026-10-30"),
        ("left", "2026-11-20"),
    ]
    assert answer["summary"].startswith(
        f"Score {answer['then']['score']:.1f} → {answer['now']['score']:.1f} since 21 Nov: "
    )
    table = cli(settings, *question, extra_env={"COLUMNS": "80"})
    assert table.returncode == 0, table.stderr.decode()
    lines = table.stdout.decode().splitlines()
    assert max(len(line) for line in lines) <= 80
    shown = table.stdout.decode()
    assert shown.replace("\n", " ").startswith(answer["summary"][:40])
    assert "quality" in shown and "│" in shown and "left" in shown
    new = orjson.loads(cli(settings, "explain", "northwind", "--as-of", "2026-10-20", "--format", "json").stdout)
    assert new["then"] is None and new["summary"].startswith("New since 20 Sep: ")
    for args, words in ((["explain", "nobody"], b"no partner 'nobody' is known"),
                        (["explain", "acme-reseller", "--since", "2027-01-01"], b"--since 2027-01-01T00:00:00Z must be"),
                        (["explain", "acme-reseller", "--as-of", "someday"], b"--as-of 'someday'")):  # fmt: skip
        bad = cli(settings, *args)
        assert bad.returncode == 1 and words in bad.stderr and b"Traceback" not in bad.stderr, (args, bad.stderr)

    assert pipeline.stop() == 0
    offline = cli(settings, *question, "--format", "json")
    assert offline.returncode == 0 and orjson.loads(offline.stdout) == answer


def test_fit_from_a_crm_export_and_a_changed_ideal_without_reingesting(settings, pipeline, tmp_path):
    mappings = EXAMPLES.parent / "mappings"
    sent = cli(settings, "send", str(mappings / "crm-partner-profiles.csv"), "--mapping",
               str(mappings / "crm-partner-profiles.yaml"))  # fmt: skip
    assert sent.returncode == 0, sent.stderr.decode()
    assert cli(settings, "send", str(EXAMPLES / "events.jsonl")).returncode == 0
    pipeline.wait_processed(4 + 14)
    rows = {r["partner_id"]: r for r in orjson.loads(cli(settings, "health", "--as-of", "2026-11-25", "--format",
                                                          "json").stdout)}  # fmt: skip
    assert rows["acme-reseller"]["fit"] == 100.0 and rows["acme-reseller"]["fit_gaps"] == []
    # segments 3 + specializations 2 + regions 1 of 9 (no storage-expert, fewer than 50 staff)
    assert rows["northwind"]["fit"] == 66.7
    assert rows["globex-partners"]["fit"] == 0.0
    assert (
        rows["globex-partners"]["fit_gaps"][0]
        == "must: business_model is distributor, not one of reseller, var, msp, si"
    )
    for r in rows.values():
        assert r["quadrant"] in ("core", "invest", "review", "deprioritise")
    invest = orjson.loads(cli(settings, "health", "--as-of", "2026-11-25", "--quadrant", "invest", "--format",
                              "json").stdout)  # fmt: skip
    assert {r["partner_id"] for r in invest} == {p for p, r in rows.items() if r["quadrant"] == "invest"}
    header = cli(settings, "health", "--format", "csv").stdout.decode().splitlines()[0]
    assert header.startswith("partner_id,name,status,score,fit,quadrant,fit_gaps,")
    assert pipeline.stop() == 0

    # A stricter ideal: every partner's fit changes at once, nothing re-ingested.
    strict = tmp_path / "ideal.yaml"
    strict.write_text("must_have:\n  - {field: employees, at_least: 100}\n")
    again = {r["partner_id"]: r for r in orjson.loads(cli(settings, "health", "--as-of", "2026-11-25", "--format", "json",
                                                           extra_env={"PARTNERPULSE_IDEAL_PARTNER": str(strict)}).stdout)}  # fmt: skip
    assert (again["acme-reseller"]["fit"], again["globex-partners"]["fit"]) == (0.0, 100.0)

    # A broken one is refused with its line, by the CLI and by `up`, never half-applied.
    strict.write_text("must_have:\n  - {field: employees, at_least: lots}\n")
    env = {"PARTNERPULSE_IDEAL_PARTNER": str(strict)}
    for args in (["health"], ["up"]):
        refused = cli(settings, *args, extra_env=env, timeout=60)
        assert refused.returncode == 1, (args, refused.stderr)
        assert f"{strict}:2: at_least takes a number, got 'lots'".encode() in refused.stderr, refused.stderr
        assert b"Traceback" not in refused.stderr
