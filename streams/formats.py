"""How values are shown in JSON and tables."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def safe_text(raw: bytes) -> str:
    """Raw bytes shown safely: valid UTF-8 as is, anything else as \\xNN escapes."""
    return raw.decode("utf-8", errors="backslashreplace")


def iso_or_none(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def aware(value: datetime) -> datetime:
    """A datetime read back from ClickHouse (naive, UTC) or given aware, as aware UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_iso(text: str) -> datetime:
    """The inverse of `iso`: our own ISO 8601 output (with Z) back to aware UTC."""
    return aware(datetime.fromisoformat(text.replace("Z", "+00:00")))
