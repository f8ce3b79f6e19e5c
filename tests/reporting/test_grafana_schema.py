"""Every dashboard model checked against Grafana's own types: npm `@grafana/schema`'s
`Dashboard`, with `satisfies` under `tsc --strict` (tests/grafana_schema/checked.ts), and
the check shown to fail on what Grafana would not take."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import orjson

from streams.reporting import grafana_models, panels
from streams.rules.scoring import load_scoring

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "grafana_schema"
TSC = SCHEMA_DIR / "node_modules" / "typescript" / "bin" / "tsc"
SCORING = load_scoring()
MODELS = {d.uid: grafana_models.dashboard_model(d, SCORING) for d in panels.dashboards(SCORING)}


def _field_config(properties: list[dict]) -> dict:
    """An override's properties as the one field config they make ("custom.x" nests)."""
    out: dict = {}
    for prop in properties:
        *path, last = prop["id"].split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = prop["value"]
    return out


def _module(models: dict[str, dict]) -> str:
    lines = ["import type { CheckedDashboard, CheckedFieldConfig } from '../checked';"]
    for name, model in models.items():
        ident = re.sub(r"\W", "_", name)
        lines.append(f"export const {ident} = {orjson.dumps(model).decode()} satisfies CheckedDashboard;")
        fields = [_field_config(o["properties"]) for p in model["panels"] for o in p["fieldConfig"]["overrides"]]
        lines.append(f"export const {ident}_fields = {orjson.dumps(fields).decode()} satisfies CheckedFieldConfig[];")
    return "\n".join(lines) + "\n"


def tsc(files: dict[str, dict[str, dict]]) -> dict[str, list[str]]:
    """Run tsc --strict over one module per entry; its errors by module name."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the Grafana schema check (it comes with the machine; see README)"
    assert TSC.exists(), f"run `npm ci --prefix {SCHEMA_DIR}` (make test does) to install Grafana's types"
    with tempfile.TemporaryDirectory(dir=SCHEMA_DIR, prefix="generated-") as tmp:
        for name, models in files.items():
            (Path(tmp) / f"{name}.ts").write_text(_module(models))
        config = {"compilerOptions": {"strict": True, "noEmit": True, "module": "esnext", "target": "es2022",
                                      "moduleResolution": "bundler", "skipLibCheck": True},
                  "include": ["*.ts"]}  # fmt: skip
        (Path(tmp) / "tsconfig.json").write_bytes(orjson.dumps(config))
        run = subprocess.run([node, str(TSC), "-p", tmp], capture_output=True, text=True, timeout=120)
    errors: dict[str, list[str]] = {name: [] for name in files}
    last: list[str] = []
    for line in run.stdout.splitlines():
        if m := re.search(r"(\w+)\.ts\(\d+,\d+\): error (.*)", line):
            last = errors[m.group(1)]
            last.append(m.group(2))
        elif line.startswith(" ") and last:  # an error's explanation goes on, indented
            last[-1] += " " + line.strip()
    assert run.returncode == 0 or any(errors.values()), run.stdout + run.stderr
    return errors


def test_every_dashboard_satisfies_grafanas_schema():
    assert tsc({"dashboards": MODELS}) == {"dashboards": []}


def _broken(change) -> dict[str, dict]:
    model = copy.deepcopy(MODELS["partnerpulse-overview"])
    change(model)
    return {"overview": model}


def _set(path: str, value):
    def change(model):
        *parents, last = path.split("/")
        node = model
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value

    return change


def _delete(key: str):
    return lambda model: model.pop(key)


# Each breaks one thing Grafana (or the ClickHouse plugin) would not take.
BROKEN = {
    "unknown_panel_field": (_set("panels/0/colour", "red"), "colour"),
    "grid_as_text": (_set("panels/0/gridPos/x", "left"), "not assignable to type 'number'"),
    "missing_uid": (_delete("uid"), "uid"),
    "unknown_dashboard_field": (_set("refreshEvery", "1m"), "refreshEvery"),
    "threshold_mode": (
        _set("panels/0/fieldConfig/defaults/thresholds", {"mode": "relative", "steps": []}),
        '"absolute" | "percentage"',
    ),
    "target_without_sql": (lambda m: m["panels"][0]["targets"][0].pop("rawSql"), "rawSql"),
    "target_old_plugin_field": (_set("panels/0/targets/0/selectedFormat", 1), "selectedFormat"),
    "variable_unknown_field": (_set("templating/list/0/definition", "SELECT 1"), "definition"),
    "override_unit_number": (
        lambda m: m["panels"][3]["fieldConfig"]["overrides"][0]["properties"].append({"id": "unit", "value": 7}),
        "'number' is not assignable to type 'string'",
    ),
    "link_without_title": (lambda m: m["links"][0].pop("title"), "title"),
}


def test_the_check_fails_on_what_grafana_would_not_take():
    errors = tsc({name: _broken(change) for name, (change, _) in BROKEN.items()})
    for name, (_, word) in BROKEN.items():
        assert errors[name], f"{name}: tsc accepted it"
        assert any(word in e for e in errors[name]), (name, errors[name])
