"""Who may do what on the web port (../shared/CONTRACT.md §5): every route × every kind of
token, through a real pipeline; the public port; the runtime file; no token ever shown."""

from __future__ import annotations

import os
import stat
import urllib.error
import urllib.request

import orjson
import pytest

from streams.rules.access import Denied, Tokens, check_bearer
from streams.worker.process import PipelineProcess
from tests.conftest import cli
from tests.ingest.test_ingest import meeting

TOKENS = {"ingest": "ingest-tok-1234", "read": "read-tok-5678", "admin": "admin-tok-9012", "wrong": "wrong-tok-3456"}
ENV = {"PARTNERPULSE_INGEST_TOKENS": TOKENS["ingest"], "PARTNERPULSE_READ_TOKENS": TOKENS["read"],
       "PARTNERPULSE_ADMIN_TOKENS": TOKENS["admin"]}  # fmt: skip
EVENT = orjson.dumps(meeting(1))
# (method, path, body) -> expected status per token: none, ingest, read, admin, wrong.
EXPECTED = {
    ("GET", "/status", None): (401, 403, 200, 200, 403),
    ("GET", "/api/health", None): (401, 403, 200, 200, 403),
    ("GET", "/api/dead_letters", None): (401, 403, 200, 200, 403),
    ("GET", "/api/no_such_query", None): (401, 403, 404, 404, 403),
    ("POST", "/dlq/replay", b""): (401, 403, 403, 200, 403),
    ("POST", "/events", EVENT): (401, 202, 403, 403, 403),
    ("GET", "/healthz", None): (200, 200, 200, 200, 200),
    ("GET", "/readyz", None): (200, 200, 200, 200, 200),
}
WHO = (None, "ingest", "read", "admin", "wrong")


def request(url: str, method: str, body: bytes | None, token: str | None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/cloudevents+json"} if body else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    from streams import config
    from streams.broker.embedded import free_port

    data = tmp_path_factory.mktemp("access") / "data"
    data.mkdir()
    settings = config.load({"PARTNERPULSE_DATA_DIR": str(data)})
    env = {**ENV, "PARTNERPULSE_PUBLIC_PORT": str(free_port())}
    with PipelineProcess(settings, data / "pipeline.log", extra_env=env) as process:
        yield settings, process


@pytest.mark.parametrize(("method", "path", "body"), list(EXPECTED), ids=[p for _, p, _ in EXPECTED])
def test_every_route_answers_each_token_as_its_scope_says(guarded, method, path, body):
    _, process = guarded
    got = tuple(request(process.info["web_url"] + path, method, body, TOKENS.get(who)) for who in WHO)
    assert tuple(status for status, _ in got) == EXPECTED[(method, path, body)], path
    for status, answer in got:
        assert not any(t.encode() in answer for t in TOKENS.values())  # never echoed
        if status in (401, 403):
            assert b"Bearer" in answer or b"not valid" in answer


def test_the_public_port_serves_events_and_probes_only(guarded):
    _, process = guarded
    public = process.info["public_url"]
    assert request(public + "/events", "POST", orjson.dumps(meeting(2)), TOKENS["ingest"])[0] == 202
    assert request(public + "/events", "POST", orjson.dumps(meeting(3)), TOKENS["read"])[0] == 403
    assert request(public + "/healthz", "GET", None, None) == (200, b'{"ok":true}')
    assert request(public + "/readyz", "GET", None, None) == (200, b'{"ready":true}')
    for path in ("/status", "/api/health", "/api/dead_letters"):
        assert request(public + path, "GET", None, TOKENS["admin"])[0] == 404
    assert request(public + "/dlq/replay", "POST", b"", TOKENS["admin"])[0] == 404


def test_the_cli_on_this_machine_uses_the_runtime_file_which_only_its_user_reads(guarded):
    settings, _ = guarded
    mode = stat.S_IMODE(os.stat(settings.runtime_file).st_mode)
    assert mode == 0o600
    info = orjson.loads(settings.runtime_file.read_bytes())
    assert info["token"] and info["token"] not in TOKENS.values()
    shown = cli(settings, "health", "--format", "json")
    assert shown.returncode == 0, shown.stderr.decode()
    assert isinstance(orjson.loads(shown.stdout), list)
    # A token from the environment wins; a wrong one is a clear error, never echoed.
    env = {"PARTNERPULSE_TOKEN": TOKENS["wrong"]}
    refused = cli(settings, "alerts", "--format", "json", extra_env=env)
    assert refused.returncode == 1 and b"403" in refused.stderr and b"PARTNERPULSE_TOKEN" in refused.stderr
    assert TOKENS["wrong"].encode() not in refused.stderr + refused.stdout
    assert cli(settings, "alerts", extra_env={"PARTNERPULSE_TOKEN": TOKENS["read"]}).returncode == 0


def test_no_token_in_the_logs_or_status(guarded):
    settings, process = guarded
    status = orjson.dumps(process.status())
    log = process.log_path.read_bytes()
    for token in (*TOKENS.values(), orjson.loads(settings.runtime_file.read_bytes())["token"]):
        assert token.encode() not in status and token.encode() not in log


def test_scopes_are_strict():
    tokens = Tokens(ingest=("i",), read=("r",), admin=("a",))
    assert tokens.of("read") == ("r", "a") and tokens.of("admin") == ("a",) and tokens.of("ingest") == ("i",)
    check_bearer("Bearer a", tokens.of("admin"), "admin")
    check_bearer("bearer r", tokens.of("read"), "read")
    for header, status in [(None, 401), ("", 401), ("Bearer ", 401), ("Token a", 401), ("Bearer r", 403),
                           ("Bearer A", 403), ("Bearer ab", 403)]:  # fmt: skip
        with pytest.raises(Denied) as info:
            check_bearer(header, tokens.of("admin"), "admin")
        assert info.value.status == status
    with pytest.raises(Denied):  # no tokens configured: closed, never open
        check_bearer("Bearer anything", (), "read")


def test_the_openapi_spec_names_each_route_s_scope_as_served():
    import yaml

    from streams.paths import SCHEMAS_DIR

    spec = yaml.safe_load((SCHEMAS_DIR / "ingest.openapi.yaml").read_text())
    schemes = {route: [name for s in op["security"] for name in s] for route, item in spec["paths"].items()
               for op in item.values()}  # fmt: skip
    assert schemes == {"/healthz": [], "/readyz": [], "/status": ["read", "admin"], "/api/{name}": ["read", "admin"],
                       "/api/explain": ["read", "admin"],
                       "/dlq/replay": ["admin"], "/events": ["ingest"]}  # fmt: skip
    assert set(spec["components"]["securitySchemes"]) == {"ingest", "read", "admin"}
    assert "security" not in spec  # no route is covered by a default it does not enforce
