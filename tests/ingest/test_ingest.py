"""Getting data in: HTTP ingest against the running pipeline, and CSV imports."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from streams.ingest import csv_import as csvimport
from streams.ingest.http_binding import BODY_IDLE_SECONDS, IngestError, authorize
from streams.paths import SCHEMAS_DIR
from streams.worker.process import PipelineProcess
from tests.conftest import EXAMPLES, cli

MAPPINGS = SCHEMAS_DIR / "mappings"
TOKENS = ("first-token", "second-token")


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url + "/events", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def meeting(i: int, **changes) -> dict:
    event = {"specversion": "1.0", "id": f"http-{i}", "source": "test/http", "type": "partner.meeting",
             "time": "2026-11-20T10:00:00Z", "subject": "acme",
             "data": {"kind": "planning", "duration_minutes": 30, "initiated_by": "partner"}}  # fmt: skip
    event.update(changes)
    return event


def ingest_pipeline_for(settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return PipelineProcess(settings, settings.data_dir / "pipeline.log",
                           extra_env={"PARTNERPULSE_INGEST_TOKENS": ",".join(TOKENS)})  # fmt: skip


@pytest.fixture
def ingest_pipeline(settings):
    with ingest_pipeline_for(settings) as process:
        yield process


@pytest.fixture
def ingest_pipeline_on_broker(on_broker):
    with ingest_pipeline_for(on_broker) as process:
        yield process


def test_http_ingest_all_modes_and_failures(ingest_pipeline_on_broker):
    ingest_pipeline = ingest_pipeline_on_broker
    url = ingest_pipeline.info["web_url"]
    auth = {"Authorization": "Bearer second-token"}
    structured = {**auth, "Content-Type": "application/cloudevents+json"}

    assert post(url, orjson.dumps(meeting(1)), structured) == (
        202, {"accepted": 1, "rejected": 0, "results": [{"index": 0, "id": "http-1", "source": "test/http",
                                                         "status": "accepted"}]},
    )  # fmt: skip
    batch = [meeting(2), meeting(3, time="yesterday"), meeting(4), meeting(5, subject="bad id!")]
    status, body = post(url, orjson.dumps(batch), {**auth, "Content-Type": "application/cloudevents-batch+json"})
    assert status == 207 and (body["accepted"], body["rejected"]) == (2, 2)
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted", "rejected"]
    assert "RFC 3339" in body["results"][1]["reason"] and "partner id" in body["results"][3]["reason"]
    binary = {**auth, "Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "http-6",
              "ce-source": "test/http", "ce-type": "partner.training", "ce-time": "2026-11-21T09:00:00+01:00",
              "ce-subject": "acme", "ce-traceparent": "00-abc-def-01"}  # fmt: skip
    data = {"course": "Admin 101", "duration_minutes": 120, "initiated_by": "vendor", "certified": True}
    assert post(url, orjson.dumps(data), binary)[0] == 202
    status, body = post(
        url, orjson.dumps([meeting(7, data={})]), {**auth, "Content-Type": "application/cloudevents-batch+json"}
    )
    assert status == 400 and body["accepted"] == 0

    # Refused as a whole, nothing produced.
    assert post(url, orjson.dumps(meeting(8)), {"Content-Type": "application/cloudevents+json"})[0] == 401
    assert (
        post(
            url,
            orjson.dumps(meeting(8)),
            {"Authorization": "Bearer nope", "Content-Type": "application/cloudevents+json"},
        )[0]
        == 403
    )
    assert post(url, orjson.dumps(meeting(8)), {"Authorization": "Basic eDp5"})[0] == 401
    assert post(url, orjson.dumps(meeting(8)), {**auth, "Content-Type": "text/csv"})[0] == 415
    assert post(url, b"[1, 2", {**auth, "Content-Type": "application/cloudevents-batch+json"})[0] == 400
    assert post(url, b"x" * (6 * 1024 * 1024), structured)[0] == 413

    # Exactly the accepted events were stored; http-6 keeps its extension attribute.
    status = ingest_pipeline.wait_processed(4, timeout=60)
    assert status["processed"]["records"] == 4 and status["stored"]["engagement_events"] == 4


def test_oversize_body_without_content_length_is_refused(ingest_pipeline):
    """A chunked upload over the limit is cut off, not buffered whole."""
    host, port = ingest_pipeline.info["web_url"].removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer first-token\r\n"
                  b"Content-Type: application/cloudevents+json\r\nTransfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        chunk = b"x" * 65536
        try:
            for _ in range(100):  # 6.4 MiB
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        except OSError:
            pass  # the server may close the connection early: that is the point
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")


def test_slow_client_is_cut_off_and_holds_nothing_up(ingest_pipeline):
    """A client that stops mid-body gets 408 after the idle limit; others are served meanwhile."""
    url = ingest_pipeline.info["web_url"]
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer first-token\r\n"
                  b"Content-Type: application/cloudevents+json\r\nContent-Length: 1000\r\n\r\n{\"spec")  # fmt: skip
        started = time.monotonic()
        assert (
            post(
                url,
                orjson.dumps(meeting(90)),
                {"Authorization": "Bearer first-token", "Content-Type": "application/cloudevents+json"},
            )[0]
            == 202
        )
        answer = s.recv(4096)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert BODY_IDLE_SECONDS - 1 < waited < BODY_IDLE_SECONDS + 10


def test_authorize_is_strict():
    authorize("Bearer a", ("a", "b"))
    authorize("bearer b", ("a", "b"))
    for header, status in [(None, 401), ("", 401), ("Bearer ", 401), ("Token a", 401), ("Bearer ab", 403),
                           ("Bearer A", 403)]:  # fmt: skip
        with pytest.raises(IngestError) as info:
            authorize(header, ("a", "b"))
        assert info.value.status == status
    with pytest.raises(IngestError) as info:
        authorize("Bearer a", ())
    assert info.value.status == 503


# --- CSV --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rows"),
    [("webinar-attendees", 5), ("event-attendance", 4), ("crm-activities", 4), ("crm-partner-profiles", 4)],
)
def test_shipped_samples_import_cleanly(name, rows):
    result = csvimport.read_csv(MAPPINGS / f"{name}.csv", csvimport.load_mapping(MAPPINGS / f"{name}.yaml"))
    assert (len(result.accepted), len(result.rejected)) == (rows, 0)
    again = csvimport.read_csv(MAPPINGS / f"{name}.csv", csvimport.load_mapping(MAPPINGS / f"{name}.yaml"))
    assert [a.event["id"] for a in again.accepted] == [a.event["id"] for a in result.accepted]  # deterministic


def test_mapping_details():
    webinar = csvimport.read_csv(
        MAPPINGS / "webinar-attendees.csv", csvimport.load_mapping(MAPPINGS / "webinar-attendees.yaml")
    )
    first = webinar.accepted[0].event
    assert first["subject"] == "acme-reseller"  # looked up by e-mail domain
    assert first["time"] == "2026-11-20T14:58:12Z"  # 09:58 in New York (EST)
    assert first["data"]["role"] == "host" and first["data"]["duration_minutes"] == 63.47
    events = csvimport.read_csv(
        MAPPINGS / "event-attendance.csv", csvimport.load_mapping(MAPPINGS / "event-attendance.yaml")
    )
    e = {a.event["id"]: a.event for a in events.accepted}
    assert e["EV-2026-31-acme-reseller"]["time"] == "2026-10-30T08:00:00Z"  # Berlin, CET
    assert e["EV-2026-31-acme-reseller"]["data"]["duration_minutes"] == 390  # 06:30
    assert e["EV-2026-44-Globex-Partners"]["subject"] == "globex-partners"  # slugged
    assert "leads" not in e["EV-2026-44-northwind"]["data"]  # empty cell, optional field


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_malformed_files(tmp_path):
    mapping = csvimport.load_mapping(MAPPINGS / "crm-activities.yaml")
    header = b"Activity ID,Subject,Activity Type,Partner Account ID,Start Date/Time,Duration (Minutes),Initiated By\n"
    bad_rows = write(tmp_path, "bad.csv", header + (
        b"1,ok,QBR,northwind,2026-11-02 19:00,90,Vendor\n"
        b"2,bad date,QBR,northwind,02/11/2026,90,Vendor\n"
        b"3,bad type,Lunch,northwind,2026-11-02 19:00,90,Vendor\n"
        b"4,bad duration,QBR,northwind,2026-11-02 19:00,ninety,Vendor\n"
        b"5,too long,QBR,northwind,2026-11-02 19:00,2000,Vendor\n"
        b"6,ok too,Planning,acme,2026-11-03 09:00,30,Partner\n"
        b"7,extra,QBR,northwind,2026-11-02 19:00,90,Vendor,surprise\n"
    ))  # fmt: skip
    result = csvimport.read_csv(bad_rows, mapping)
    assert len(result.accepted) == 2
    assert [(n, r.split(":")[0]) for n, _, r in result.rejected] == [
        (3, "time '02/11/2026' does not match %Y-%m-%d %H"), (4, "Activity Type"), (5, "Duration (Minutes)"),
        (6, "data.duration_minutes must be ≤ 1440, got 2000.0"), (8, "8 cells where the header has 7"),
    ]  # fmt: skip
    rejects = csvimport.write_rejects(bad_rows, result)
    assert rejects == tmp_path / "bad.rejects.csv"
    lines = rejects.read_text().splitlines()
    assert lines[0].startswith("line,reason,Activity ID") and len(lines) == 6
    assert lines[-1].endswith(",Vendor,surprise")  # the overflow cell is kept

    latin = write(
        tmp_path, "latin.csv", header + "9,Réunion,QBR,northwind,2026-11-02 19:00,90,Vendor\n".encode("latin-1")
    )
    with pytest.raises(csvimport.MappingError, match=r"not utf-8-sig text.*encoding: latin-1"):
        csvimport.read_csv(latin, mapping)
    missing = write(tmp_path, "missing.csv", b"Activity ID,Subject\n1,x\n")
    with pytest.raises(csvimport.MappingError, match="lacks the column"):
        csvimport.read_csv(missing, mapping)


def test_csv_send_through_the_pipeline_is_idempotent(on_broker, broker_pipeline, tmp_path):
    settings, pipeline = on_broker, broker_pipeline
    sample = tmp_path / "crm.csv"
    sample.write_bytes(
        (MAPPINGS / "crm-activities.csv").read_bytes() + b"00T5e00099,bad,Lunch,acme,2026-11-24 16:30,15,Inbound,X\n"
    )
    mapping = str(MAPPINGS / "crm-activities.yaml")
    first = cli(settings, "send", str(sample), "--mapping", mapping)
    assert first.returncode == 1  # a row was rejected
    assert b"accepted 4, rejected 1" in first.stderr and b"crm.csv:6: Activity Type" in first.stderr
    assert (tmp_path / "crm.rejects.csv").exists()
    again = cli(settings, "send", str(sample), str(EXAMPLES / "events.jsonl"), "--mapping", mapping)
    assert b"accepted 18, rejected 1" in again.stderr
    status = pipeline.wait_processed(4 + 4 + 14)
    assert status["stored"]["engagement_events"] == 4 + 10  # re-import added nothing
    no_mapping = cli(settings, "send", str(sample))
    assert no_mapping.returncode == 1 and b"--mapping" in no_mapping.stderr


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_a_european_export_reads_its_numbers_as_declared_and_names_real_lines(tmp_path):
    mapping = csvimport.load_mapping(FIXTURES / "crm-export-de.yaml")
    result = csvimport.read_csv(FIXTURES / "crm-export-de.csv", mapping)  # BOM, ';', CRLF, decimal commas
    minutes = {a.event["id"]: a.event["data"]["duration_minutes"] for a in result.accepted}
    assert minutes["sfde-1"] == 45.5  # never 455
    assert "sfde-2" not in minutes  # 2.345,5 minutes: read as 2345.5, over the 1440 limit
    assert minutes["sfde-3"] == 30
    # Line numbers as an editor shows them: the blank line and the two-line cell counted.
    assert [(line, reason.split(":")[0]) for line, _, reason in result.rejected] == [
        (4, "data.duration_minutes must be ≤ 1440, got 2345.5"), (7, "Duration (Minutes)")]  # fmt: skip
    assert "30.5" in result.rejected[1][2] and "decimal ','" in result.rejected[1][2]
    rejects = csvimport.write_rejects(tmp_path / "crm-export-de.csv", result)
    assert rejects.read_text().splitlines()[0].startswith("line;reason;Activity ID;")  # the input's delimiter


def test_mapping_mistakes_are_caught_when_it_loads(tmp_path):
    base = (FIXTURES / "crm-export-de.yaml").read_text()
    for change, message in [
        (("type: number", "type: nmuber"), "has type 'nmuber'"),
        (('decimal: ","', 'decimal: "·"'), "decimal must be"),
        (("transform: slug", "transform: slugify"), "unknown transform 'slugify'"),
    ]:
        path = write(tmp_path, "m.yaml", base.replace(*change).encode())
        with pytest.raises(csvimport.MappingError, match=message):
            csvimport.load_mapping(path)
    # A semicolon file read with the default delimiter says what to set.
    plain = write(tmp_path, "plain.yaml", base.replace('delimiter: ";"\n', "").encode())
    with pytest.raises(csvimport.MappingError, match="set delimiter: ';'"):
        csvimport.read_csv(FIXTURES / "crm-export-de.csv", csvimport.load_mapping(plain))
    # A BOM is no part of the first column's name, whatever the declared encoding.
    utf8 = write(tmp_path, "utf8.yaml", (base + "encoding: utf-8\n").encode())
    assert csvimport.read_csv(FIXTURES / "crm-export-de.csv", csvimport.load_mapping(utf8)).accepted


def test_only_post_is_routed_and_a_malformed_request_is_one_log_line(ingest_pipeline):
    host, port = ingest_pipeline.info["web_url"].removeprefix("http://").split(":")

    def raw(request: bytes) -> bytes:
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(request)
            return s.recv(4096)

    for method in (b"HEAD", b"GET", b"PUT"):
        answer = raw(method + b" /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 405") and b"\r\nAllow: POST\r\n" in answer, answer
    nul = raw(b"POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer first-token\r\n"
              b"Content-Type: application/json\r\nce-id: a\x00b\r\nContent-Length: 2\r\n\r\n{}")  # fmt: skip
    assert nul.split(b"\r\n")[0].endswith(b"400 Bad Request")
    time.sleep(0.5)
    log = ingest_pipeline.log_path.read_text()
    assert "refused a malformed HTTP request (400): Invalid header value char" in log
    assert "Traceback" not in log
