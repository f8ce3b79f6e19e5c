"""The read queries by name: what the pipeline's HTTP API serves under /api/<name>
and what the CLI asks for (through that API, or directly on the store). Each takes a
client and keyword parameters and returns JSON-ready data."""

from streams.reporting import report
from streams.reporting.explain import explain
from streams.reporting.health_rows import health
from streams.reporting.panel_data import panel_data
from streams.store import reads
from streams.store.alerts import read_alerts

QUERIES = {
    "counts": reads.counts,
    "dead_letters": reads.dead_letters,
    "dead_letter_reasons": reads.dead_letter_reasons,
    "health": health,
    "alerts": read_alerts,
    "explain": explain,
    "report": report.report_data,
    "panels": panel_data,
}
