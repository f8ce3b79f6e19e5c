"""The read queries by name: what the pipeline's HTTP API serves under /api/<name>
and what the CLI asks for (through that API, or directly on the store)."""

from streams.reporting import report
from streams.store import evaluations as evaluation
from streams.store import metrics as health
from streams.store import reads as queries

QUERIES = {
    "counts": queries.counts,
    "dead_letters": queries.dead_letters,
    "dead_letter_reasons": queries.dead_letter_reasons,
    "health": health.health,
    "alerts": evaluation.read_alerts,
    "report": report.report_data,
}
