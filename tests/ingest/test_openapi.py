"""schemathesis, a tool we did not write, holds the running pipeline to
schemas/ingest.openapi.yaml: every schema-valid request is accepted, every invalid one
refused, and every answer is one the spec lists (status, content type, body schema)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.paths import SCHEMAS_DIR
from streams.worker.process import PipelineProcess

TOKEN = "schemathesis-token"
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def open_pipeline(settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # One token in every scope, so each operation is tested past its authorization.
    scopes = {f"PARTNERPULSE_{s}_TOKENS": TOKEN for s in ("INGEST", "READ", "ADMIN")}
    process = PipelineProcess(settings, settings.data_dir / "pipeline.log", extra_env=scopes)
    process.start()
    yield process
    process.stop()


def test_the_server_does_what_the_spec_says(open_pipeline):
    st = Path(sys.executable).with_name("st")
    run = subprocess.run(
        [str(st), "--config-file", str(CONFIG), "--no-color", "run", str(SCHEMAS_DIR / "ingest.openapi.yaml"),
         "--url", open_pipeline.info["web_url"], "--checks", "all", "--workers", "1"],
        env={**os.environ, "PARTNERPULSE_TEST_TOKEN": TOKEN}, capture_output=True, text=True, timeout=240,
        cwd=open_pipeline.settings.data_dir,  # st keeps its cache (.schemathesis/) where it runs
    )  # fmt: skip
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "Operations:       7 selected / 7 total" in run.stdout, report
    assert " passed" in run.stdout and "failed" not in run.stdout.split("SUMMARY")[-1], report
