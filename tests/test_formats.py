"""How times are shown: `iso` writes what datetime.isoformat writes, in UTC with Z."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from streams.formats import iso, parse_iso


class Stamp(datetime):
    """A datetime subclass, as pandas' Timestamp is one."""


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 11, 25, 13, 32, 5, tzinfo=UTC), "2026-11-25T13:32:05Z"),
        (datetime(2026, 11, 25, 13, 32, 5, 123000, tzinfo=UTC), "2026-11-25T13:32:05.123000Z"),
        (datetime(2026, 11, 25, 13, 32, 5, 1, tzinfo=UTC), "2026-11-25T13:32:05.000001Z"),
        (datetime(2026, 11, 25, 13, 32, 5), "2026-11-25T13:32:05Z"),  # naive: UTC, as ClickHouse gives it
        (datetime(2026, 11, 25, 15, 32, 5, tzinfo=timezone(timedelta(hours=2))), "2026-11-25T13:32:05Z"),
        (datetime(2026, 11, 25, 8, 32, 5, 500, tzinfo=ZoneInfo("America/New_York")), "2026-11-25T13:32:05.000500Z"),
        (datetime(2026, 11, 25, 13, 32, 5, tzinfo=ZoneInfo("UTC")), "2026-11-25T13:32:05Z"),
        (datetime(1900, 1, 1, tzinfo=UTC), "1900-01-01T00:00:00Z"),
        (datetime(2299, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "2299-12-31T23:59:59.999999Z"),
        (Stamp(2026, 11, 25, 13, 32, 5, 7, tzinfo=UTC), "2026-11-25T13:32:05.000007Z"),
    ],
)
def test_iso_is_utc_with_z_and_reads_back(value, text):
    assert iso(value) == text
    assert parse_iso(text) == (value if value.tzinfo else value.replace(tzinfo=UTC))
