"""A local HTTP server standing in for Grafana: the parts of its HTTP API that
`dashboards publish` uses, with the documented paths, methods, auth and required
fields, in memory, recording every request."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

RULE_REQUIRED = ("title", "ruleGroup", "folderUID", "condition", "data", "noDataState", "execErrState", "for", "orgID")


class FakeGrafana:
    def __init__(self, token: str, plugins=("grafana-clickhouse-datasource",), default_interval: int = 10):
        self.token = token
        self.default_interval = default_interval  # what a group made by creating a rule is evaluated at
        self.intervals: dict[tuple[str, str], int] = {}
        self.plugins = list(plugins)
        self.folders: dict[str, dict] = {}
        self.datasources: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.rules: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body) -> None:
                data = orjson.dumps(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = orjson.loads(self.rfile.read(length)) if length else None
                fake.requests.append((method, self.path))
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"message": "Unauthorized"})
                provenance = "" if self.headers.get("X-Disable-Provenance") == "true" else "api"
                status, answer = fake.route(method, self.path, body, provenance)
                self._send(status, answer)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PUT(self):
                self._handle("PUT")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def group(self, folder: str, name: str) -> dict:
        rules = [{k: v for k, v in r.items() if k != "provenance"} for r in self.rules.values()
                 if (r["folderUID"], r["ruleGroup"]) == (folder, name)]  # fmt: skip
        return {"title": name, "folderUid": folder, "interval": self.intervals.get((folder, name)), "rules": rules}

    def route(self, method: str, path: str, body, provenance: str = "api"):
        missing = {"message": "not found"}
        if method == "GET" and path == "/api/plugins?embedded=0":
            return 200, [{"id": p, "type": "datasource"} for p in self.plugins]
        if path.startswith("/api/folders"):
            uid = path.removeprefix("/api/folders").strip("/")
            if method == "GET":
                return (200, self.folders[uid]) if uid in self.folders else (404, missing)
            if method == "POST" and not uid:
                if not body.get("title"):
                    return 400, {"message": "title is required"}
                if body.get("uid") in self.folders:
                    return 409, {"message": "folder exists"}
                self.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
                return 200, self.folders[body["uid"]]
            if method == "PUT" and uid in self.folders:
                if "version" not in body and not body.get("overwrite"):
                    return 400, {"message": "version or overwrite required"}
                self.folders[uid]["title"] = body["title"]
                return 200, self.folders[uid]
        if path.startswith("/api/datasources"):
            uid = path.removeprefix("/api/datasources/uid/") if "/uid/" in path else None
            if method == "GET" and uid:
                if uid not in self.datasources:
                    return 404, missing
                return 200, {k: v for k, v in self.datasources[uid].items() if k != "secureJsonData"} | {"id": 7}
            if method in ("POST", "PUT"):
                for key in ("name", "type", "access"):
                    if not body.get(key):
                        return 400, {"message": f"{key} is required"}
                if method == "POST" and body["uid"] in self.datasources:
                    return 409, {"message": "data source with the same uid already exists"}
                if method == "PUT" and uid not in self.datasources:
                    return 404, missing
                self.datasources[body["uid"]] = body
                return 200, {"datasource": body, "id": 7, "message": "ok"}
        if method == "GET" and path.startswith("/api/dashboards/uid/"):
            uid = path.removeprefix("/api/dashboards/uid/")
            if uid not in self.dashboards:
                return 404, missing
            stored = self.dashboards[uid]
            return 200, {"dashboard": stored["dashboard"], "meta": {"folderUid": stored["folderUid"]}}
        if method == "POST" and path == "/api/dashboards/db":
            dashboard = body.get("dashboard") or {}
            if not dashboard.get("title") or not dashboard.get("uid"):
                return 400, {"message": "dashboard title and uid required"}
            if body.get("folderUid") not in self.folders:
                return 400, {"message": "folder not found"}
            uid = dashboard["uid"]
            if uid in self.dashboards and not body.get("overwrite"):
                return 412, {"message": "version-mismatch"}
            version = self.dashboards.get(uid, {}).get("dashboard", {}).get("version", 0) + 1
            self.dashboards[uid] = {
                "dashboard": dashboard | {"id": 3, "version": version},
                "folderUid": body["folderUid"],
            }
            return 200, {"status": "success", "uid": uid, "version": version}
        if path.startswith("/api/v1/provisioning/alert-rules"):
            uid = path.removeprefix("/api/v1/provisioning/alert-rules").strip("/")
            if method == "GET":
                return (200, self.rules[uid] | {"id": 9}) if uid in self.rules else (404, missing)
            lacking = [k for k in RULE_REQUIRED if k not in body]
            if lacking:
                return 400, {"message": f"missing {lacking}"}
            if body["folderUID"] not in self.folders:
                return 400, {"message": "folder not found"}
            if method == "PUT" and self.rules.get(uid, {}).get("provenance") == "api" and not provenance:
                return 400, {"message": "cannot change provenance from 'api' to ''"}
            if method == "POST":
                self.rules[body["uid"]] = body | {"provenance": provenance}
                self.intervals.setdefault((body["folderUID"], body["ruleGroup"]), self.default_interval)
                return 201, body
            if method == "PUT" and uid in self.rules:
                self.rules[uid] = body | {"provenance": provenance}
                return 200, body
        if path.startswith("/api/v1/provisioning/folder/") and "/rule-groups/" in path:
            folder, name = path.removeprefix("/api/v1/provisioning/folder/").split("/rule-groups/")
            if (folder, name) not in self.intervals:
                return 404, missing
            if method == "GET":
                return 200, self.group(folder, name)
            if method == "PUT":  # the whole group: its rules replace the stored ones
                if not isinstance(body.get("interval"), int) or body["interval"] < 10 or body.get("title") != name:
                    return 400, {"message": "interval (seconds, at least 10) and title required"}
                kept = {r["uid"] for r in body.get("rules", [])}
                self.rules = {u: r for u, r in self.rules.items()
                              if u in kept or (r["folderUID"], r["ruleGroup"]) != (folder, name)}  # fmt: skip
                self.intervals[(folder, name)] = body["interval"]
                return 200, self.group(folder, name)
        return 404, missing
