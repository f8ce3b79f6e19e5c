"""deploy/ is written for real servers: checked statically here (no Docker, Kafka,
ClickHouse server or Kubernetes on these machines), and the cluster migrations are
parsed by ClickHouse's own parser (chDB)."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
import yaml

from streams.reporting import panel_types
from streams.store import connection as store

from .conftest import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_stack_is_complete_and_references_what_exists():
    doc = compose()
    services = doc["services"]
    assert {"kafka", "clickhouse", "init", "worker", "ingest", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    for name in ("kafka", "clickhouse", "grafana"):
        assert "healthcheck" in services[name], name
    for name in ("init", "worker", "ingest"):
        build = services[name]["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()
    assert services["init"]["command"] == ["init"]
    assert services["worker"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    # Only the public port (POST /events and probes) is published; the API port is not.
    env = doc["x-partnerpulse"]["environment"]
    assert [p.split(":")[-1] for p in services["ingest"]["ports"]] == [env["PARTNERPULSE_PUBLIC_PORT"]]
    assert all("ports" not in s for n, s in services.items() if n not in ("ingest", "grafana"))
    assert env["PARTNERPULSE_READ_TOKENS"].startswith("${") and env["PARTNERPULSE_ADMIN_TOKENS"].startswith("${")
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), volume
            else:
                assert source in doc["volumes"], volume


def test_compose_pins_the_grafana_and_plugin_the_dashboards_are_checked_for():
    grafana = compose()["services"]["grafana"]
    schema = orjson.loads((ROOT / "tests" / "grafana_schema" / "package.json").read_bytes())
    assert grafana["image"] == f"grafana/grafana:{schema['devDependencies']['@grafana/schema']}"
    plugin, version = grafana["environment"]["GF_INSTALL_PLUGINS"].split(" ")
    assert (plugin, version) == (panel_types.DATASOURCE_TYPE, panel_types.PLUGIN_VERSION)
    major, minor, patch = map(int, version.split("."))
    assert (major, minor, patch) >= (4, 0, 3)  # $__timeFilter_ms, $__fromTime_ms, $__toTime_ms


def test_compose_keeps_secrets_out_of_files():
    text = COMPOSE.read_text()
    env_example = (DEPLOY / "compose" / ".env.example").read_text()
    defined = set(re.findall(r"^(\w+)=", env_example, re.M))
    used = set(re.findall(r"\$\{(\w+)(?::-[^}]*)?\}", text))
    assert used <= defined, used - defined
    for key, value in re.findall(r"(\w*(?:PASSWORD|TOKENS?|SECRET)\w*):\s*(\S+)", text):
        assert value.startswith("${"), f"{key} is set in the file"
    assert ".env" in (ROOT / ".gitignore").read_text()


def test_dockerfile_copies_what_exists():
    text = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
    assert "/healthz" in text


def k8s_docs(folder: Path) -> list[dict]:
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization.get("resources", []):
        path = folder / resource
        assert path.exists(), f"{folder.name}/kustomization.yaml names {resource}, which is missing"
        if path.is_dir():
            docs += k8s_docs(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in kustomization.get("patches", []):
        assert (folder / patch["path"]).is_file()
    return docs


@pytest.mark.parametrize("overlay", ["base", "overlays/production"])
def test_kustomize_resources_exist_and_fit_together(overlay):
    docs = k8s_docs(DEPLOY / "k8s" / overlay)
    kinds = {d["kind"]: d for d in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Job"} <= set(kinds)
    worker = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert worker["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert worker["resources"]["requests"] and worker["resources"]["limits"]["memory"]
    assert {e.get("secretRef", {}).get("name") for e in worker["envFrom"]} >= {"partnerpulse-secrets"}
    selector = kinds["Deployment"]["spec"]["selector"]["matchLabels"]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert all(s["spec"]["selector"] == selector for s in services.values())
    assert selector == kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    # The public Service reaches only the port that serves POST /events and probes; the
    # read API is on a cluster-internal one.
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert services["partnerpulse-ingest"]["spec"]["ports"][0]["targetPort"] == "public"
    assert services["partnerpulse-api"]["spec"]["type"] == "ClusterIP"
    assert services["partnerpulse-api"]["spec"]["ports"][0]["targetPort"] == "http"
    base = yaml.safe_load((DEPLOY / "k8s" / "base" / "kustomization.yaml").read_text())
    literals = dict(item.split("=", 1) for item in base["configMapGenerator"][0]["literals"])
    assert int(literals["PARTNERPULSE_PUBLIC_PORT"]) == ports["public"]
    assert int(literals["PARTNERPULSE_WEB_PORT"]) == ports["http"]
    assert kinds["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == int(literals["PARTNERPULSE_PARTITIONS"])


def cluster_statements() -> list[tuple[str, str]]:
    return [(path.name, s) for path in sorted((store.MIGRATIONS_DIR / "cluster").glob("*.sql"))
            for s in store.split_statements(path.read_text())]  # fmt: skip


def test_cluster_migrations_parse_with_clickhouse_parser(client):
    statements = cluster_statements()
    assert len(statements) > 20
    for name, statement in statements:
        formatted = client.query("SELECT formatQuery({q:String})", parameters={"q": statement}).result_rows[0][0]
        assert formatted, (name, statement[:80])


def test_cluster_variant_keeps_every_name_the_queries_use(client):
    single = {r[0] for r in client.query("SHOW TABLES").result_rows} - {"schema_migrations"}
    created = set()
    for _, statement in cluster_statements():
        if changed := re.match(r"(?:(?:ALTER|TRUNCATE) TABLE (\w+) ON CLUSTER|INSERT INTO (\w+)\s)", statement):
            assert {changed.group(1), f"{changed.group(2)}_local"} & created, statement[:80]
            continue
        match = re.match(r"CREATE (?:TABLE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS (\w+) ON CLUSTER", statement)
        assert match, statement[:80]
        created.add(match.group(1))
    assert single <= created
    assert {f"{t}_local" for t in single if t != "partner_profiles" and not t.endswith("_mv")} <= created
    versions = [p.name for p in sorted((store.MIGRATIONS_DIR / "cluster").glob("*.sql"))]
    assert versions == [p.name for p in sorted(store.MIGRATIONS_DIR.glob("*.sql"))]


def test_a_cluster_needs_a_server(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNERPULSE_CLICKHOUSE_CLUSTER", "partnerpulse")
    with pytest.raises(store.StoreError, match="cluster"):
        store.connect(f"chdb://{tmp_path / 'ch'}")


def test_cluster_tables_have_exactly_the_single_node_columns():
    """The two migration variants must not drift: same columns, types and indexes."""

    def columns(folder: Path, suffix: str) -> dict[str, str]:
        out = {}
        for path in sorted(folder.glob("*.sql")):
            for statement in store.split_statements(path.read_text()):
                match = re.match(r"CREATE TABLE IF NOT EXISTS (\w+)(?: ON CLUSTER '\{cluster\}')?\s*\((.*)\)\s*ENGINE",
                                 statement, re.S)  # fmt: skip
                if match and match.group(1).endswith(suffix):
                    out[match.group(1).removesuffix(suffix)] = re.sub(r"\s+", " ", match.group(2)).strip()
        return out

    single = columns(store.MIGRATIONS_DIR, "")
    cluster = columns(store.MIGRATIONS_DIR / "cluster", "_local")
    assert single == cluster

    def added(folder: Path) -> dict[str, set[str]]:
        """Columns added by ALTER TABLE, per table (a local table and its Distributed one alike)."""
        out: dict[str, set[str]] = {}
        for path in sorted(folder.glob("*.sql")):
            for statement in store.split_statements(path.read_text()):
                if match := re.match(
                    r"ALTER TABLE (\w+)(?: ON CLUSTER '\{cluster\}')?\s+(ADD COLUMN .*)", statement, re.S
                ):
                    clauses = {re.sub(r"\s+", " ", c).strip() for c in match.group(2).split(",\n")}
                    out.setdefault(match.group(1).removesuffix("_local"), set()).update(clauses)
        return out

    assert "partner_health" in added(store.MIGRATIONS_DIR)
    assert added(store.MIGRATIONS_DIR) == added(store.MIGRATIONS_DIR / "cluster")
