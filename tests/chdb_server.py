"""A test stand-in for a ClickHouse server: ClickHouse's HTTP interface, enough of it for
clickhouse-connect, served by one process that owns a real chDB engine.

Embedded chDB admits one process per data path; several PartnerPulse workers sharing
one store (the scale-out tests) need a server, and none can run here. This is real
ClickHouse SQL on the real engine, behind the HTTP protocol: queries in the `query`
parameter and/or the body, bind values as `param_<name>`, inserts as
`INSERT … FORMAT Native` with the data in the body, errors as HTTP 500 with the
exception text. Run: python -m tests.chdb_server PATH PORT
"""

from __future__ import annotations

import email.policy
import os
import re
import sys
import tempfile
import threading
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import chdb

FORMAT = re.compile(r"\s+FORMAT\s+(\w+)\s*;?\s*$", re.I)


class Engine:
    def __init__(self, path: str):
        self.conn = chdb.connect(path)
        self.lock = threading.Lock()
        names = self.conn.query("SELECT name FROM system.settings", "TabSeparated").bytes().decode()
        self.settings = set(names.split())

    def run(self, sql: str, fmt: str, params: dict[str, str], database: str | None, data: bytes | None,
            settings: dict[str, str]) -> bytes:  # fmt: skip
        with self.lock:
            # Settings in the URL apply to this query only, as on a server.
            for name, value in settings.items():
                self.conn.query(f"SET {name} = {{value:String}}", params={"value": value})
            try:
                return self._run(sql, fmt, params, database, data)
            finally:
                for name in settings:
                    self.conn.query(f"SET {name} = DEFAULT")

    def _run(self, sql: str, fmt: str, params: dict[str, str], database: str | None, data: bytes | None) -> bytes:
        if database:
            self.conn.query(f"USE `{database}`")
        if data is not None:
            with tempfile.NamedTemporaryFile(suffix=".native", delete=False) as f:
                f.write(data)
            try:
                head = FORMAT.sub("", sql)
                self.conn.query(f"{head} FROM INFILE '{f.name}' FORMAT {fmt}")
            finally:
                os.unlink(f.name)
            return b""
        result = self.conn.query(sql, fmt, params=params) if params else self.conn.query(sql, fmt)
        return result.bytes() if hasattr(result, "bytes") else bytes(result)


def serve(path: str, port: int) -> None:
    engine = Engine(path)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _handle(self) -> None:
            url = urlsplit(self.path)
            if url.path.rstrip("/") == "/ping":
                return self._answer(200, b"Ok.\n")
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            body = self._body()
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("application/x-www-form-urlencoded"):
                params.update(parse_qsl(body.decode(), keep_blank_values=True))
                body = b""
            elif content_type.startswith("multipart/form-data"):  # the query and large bind values
                message = BytesParser(policy=email.policy.HTTP).parsebytes(
                    f"Content-Type: {content_type}\r\n\r\n".encode() + body
                )
                for part in message.iter_parts():
                    params[part.get_param("name", header="content-disposition")] = part.get_content()
                body = b""
            query = params.get("query", "")
            data = None
            head = (query + " " + body[:4096].decode("utf-8", "replace")).lstrip()
            first_line = head.split("\n", 1)[0]
            if head.upper().startswith("INSERT") and FORMAT.search(first_line) and body:
                if query:
                    sql, data = query, body
                else:  # the statement, a newline, then the data
                    end = body.index(b"\n")
                    sql, data = body[:end].decode(), body[end + 1 :]
            else:
                sql = (query + ("\n" if query and body else "") + body.decode()).strip()
            match = FORMAT.search(sql)
            fmt = match.group(1) if match else params.get("default_format", "TabSeparated")
            if data is None and match:
                sql = FORMAT.sub("", sql)
            binds = {k.removeprefix("param_"): v for k, v in params.items() if k.startswith("param_")}
            settings = {k: v for k, v in params.items() if k in engine.settings}
            try:
                out = engine.run(sql, fmt, binds, params.get("database"), data, settings)
            except Exception as exc:  # the engine's error, as a server reports it
                text = str(exc)
                code = re.search(r"Code: (\d+)", text)
                return self._answer(500, text.encode(), {"X-ClickHouse-Exception-Code": code.group(1) if code else "1"})
            self._answer(200, out, {"X-ClickHouse-Format": fmt, "X-ClickHouse-Timezone": "UTC",
                                    "Content-Type": "application/octet-stream"})  # fmt: skip

        do_GET = _handle
        do_POST = _handle

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


class StoreProcess:
    """This server in a subprocess, for tests: `dsn` stays valid across kill() and start()
    (same port, same data), so a test can take the store away and bring it back."""

    def __init__(self, path, password: str = ""):
        from streams.broker.embedded import free_port

        self.path, self.port, self.proc = path, free_port(), None
        self.dsn = f"http://default:{password}@127.0.0.1:{self.port}/partnerpulse?compress=False"

    def start(self) -> StoreProcess:
        import subprocess

        from streams.broker.embedded import wait_for_port
        from streams.paths import ROOT

        self.proc = subprocess.Popen([sys.executable, "-m", "tests.chdb_server", str(self.path), str(self.port)],
                                     cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        wait_for_port("127.0.0.1", self.port, timeout=30)
        return self

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
