"""CSV import: rows of webinar, event and CRM exports turned into CloudEvents by a small
YAML mapping (pure, apart from reading the files).

A mapping names the event's `type`, `source`, `subject`, `time` and `data` fields; each
is a constant or a spec:

    {column: NAME}                          the cell, as text
    {column: NAME, type: number|integer|boolean}
    {column: NAME, map: {Host: host, …}, default: attendee}
    {column: NAME, lookup: partners.csv, key: email_domain, value: partner_id}
    {column: NAME, format: "%m/%d/%Y %I:%M %p", timezone: America/New_York}   (time)
    {column: NAME, format: "hh:mm"}         a duration as hours:minutes, in minutes
    {start: COL, end: COL, format: …, timezone: …}   minutes between two times
    {template: "{Webinar ID}-{Email}"}      cells put together
    {column: NAME, transform: email_domain|lower|strip|slug}

Without an `id`, the event id is derived from the mapping's source and the row's
cells, so importing the same file again adds nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import yaml

from streams.errors import MappingError
from streams.rules.validation import Accepted, Rejected, validate_event


class RowError(ValueError):
    """One row cannot be turned into an event."""


@dataclass(frozen=True)
class Mapping:
    spec: dict[str, Any]
    base: Path  # folder of the mapping file (lookups are relative to it)
    lookups: dict[str, dict[str, str]]

    @property
    def encoding(self) -> str:
        return self.spec.get("encoding", "utf-8-sig")

    @property
    def delimiter(self) -> str:
        return self.spec.get("delimiter", ",")

    def columns(self) -> set[str]:
        """Every column the mapping reads."""
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key in ("column", "start", "end"):
                    if isinstance(node.get(key), str):
                        found.add(node[key])
                if isinstance(node.get("template"), str):
                    found.update(re.findall(r"\{([^{}]+)\}", node["template"]))
                for key, value in node.items():
                    if key not in ("map", "template"):
                        walk(value)

        walk({k: v for k, v in self.spec.items() if k in ("type", "source", "id", "subject", "time", "data")})
        return found


def load_mapping(path: str | Path) -> Mapping:
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise MappingError(f"cannot read the mapping {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"the mapping {path} is not valid YAML: {exc}") from None
    if not isinstance(spec, dict):
        raise MappingError(f"the mapping {path} must be a YAML mapping with type, source, subject, time and data")
    missing = [k for k in ("type", "source", "subject", "time", "data") if k not in spec]
    if missing:
        raise MappingError(f"the mapping {path} lacks {', '.join(missing)}")
    lookups = {}
    for node in _specs(spec):
        if isinstance(node, dict) and "lookup" in node:
            lookups[node["lookup"]] = _load_lookup(path.parent / node["lookup"], node.get("key"), node.get("value"))
    if "timezone" in spec:
        _zone(spec["timezone"])
    return Mapping(spec, path.parent, lookups)


def _specs(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "map":
                yield from _specs(value)


def _load_lookup(path: Path, key: str | None, value: str | None) -> dict[str, str]:
    if not key or not value:
        raise MappingError(f"a lookup in {path.name} needs `key:` and `value:` columns")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise MappingError(f"cannot read the lookup file {path}: {exc.strerror}") from None
    if rows and (key not in rows[0] or value not in rows[0]):
        raise MappingError(f"the lookup file {path} needs columns {key!r} and {value!r}")
    return {r[key].strip().lower(): r[value].strip() for r in rows}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None


TRANSFORMS = {
    "strip": str.strip,
    "lower": lambda s: s.strip().lower(),
    "email_domain": lambda s: s.strip().lower().rpartition("@")[2],
    "slug": lambda s: re.sub(r"[^a-z0-9._:-]+", "-", s.strip().lower()).strip("-"),
}


class Row:
    def __init__(self, mapping: Mapping, cells: dict[str, str]):
        self.m, self.cells = mapping, cells

    def cell(self, name: str) -> str:
        value = (self.cells.get(name) or "").strip()
        return value

    def parse_time(self, text: str, spec: dict) -> datetime:
        if not text:
            raise RowError("the time is empty")
        fmt = spec.get("format")
        try:
            parsed = datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise RowError(f"time {text!r} does not match {fmt or 'ISO 8601'}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=_zone(spec.get("timezone") or self.m.spec.get("timezone", "UTC")))
        return parsed

    def value(self, spec: Any) -> Any:
        if not isinstance(spec, dict):
            return spec
        if "template" in spec:
            return re.sub(r"\{([^{}]+)\}", lambda m: self.cell(m.group(1)), spec["template"])
        if "start" in spec:
            start = self.parse_time(self.cell(spec["start"]), spec)
            end = self.parse_time(self.cell(spec["end"]), spec)
            return round((end - start).total_seconds() / 60, 2)
        text = self.cell(spec["column"])
        if "transform" in spec:
            if spec["transform"] not in TRANSFORMS:
                raise MappingError(f"unknown transform {spec['transform']!r} (known: {', '.join(TRANSFORMS)})")
            text = TRANSFORMS[spec["transform"]](text)
        if "map" in spec:
            mapped = {str(k).strip().lower(): v for k, v in spec["map"].items()}.get(text.lower(), spec.get("default"))
            if mapped is None:
                raise RowError(f"{spec['column']}: {text!r} is not one of {', '.join(map(str, spec['map']))}")
            return mapped
        if "lookup" in spec:
            found = self.m.lookups[spec["lookup"]].get(text.lower(), spec.get("default"))
            if found is None:
                raise RowError(f"{spec['column']}: {text!r} is not in {spec['lookup']}")
            return found
        if text == "" and "default" in spec:
            return spec["default"]
        if spec.get("format") == "hh:mm":
            match = re.fullmatch(r"(\d+):(\d{1,2})(?::(\d{1,2}))?", text)
            if not match:
                raise RowError(f"{spec['column']}: {text!r} is not hh:mm")
            h, m, s = (int(g or 0) for g in match.groups())
            return round(h * 60 + m + s / 60, 2)
        if spec.get("format") or spec.get("timezone"):
            return self.parse_time(text, spec)
        kind = spec.get("type", "string")
        try:
            if kind == "number":
                return float(text.replace(",", "")) if text else None
            if kind == "integer":
                return int(text.replace(",", "")) if text else None
            if kind == "boolean":
                return text.lower() in ("1", "true", "yes", "y", "x")
        except ValueError:
            raise RowError(f"{spec['column']}: {text!r} is not a {kind}") from None
        return text


def to_event(mapping: Mapping, cells: dict[str, str]) -> dict[str, Any]:
    row = Row(mapping, cells)
    spec = mapping.spec
    time = row.value(spec["time"])
    if not isinstance(time, datetime):
        time = row.parse_time(str(time), {})
    data = {}
    for name, field in spec["data"].items():
        value = row.value(field)
        if value is not None and value != "":
            data[name] = value
    event = {
        "specversion": "1.0",
        "source": row.value(spec["source"]),
        "type": row.value(spec["type"]),
        "time": time.astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z"),
        "subject": row.value(spec["subject"]),
        "datacontenttype": "application/json",
        "data": data,
    }
    if "id" in spec:
        event["id"] = row.value(spec["id"])
    else:
        # Deterministic: the same row of the same export is the same event.
        digest = hashlib.sha256(orjson.dumps([event["source"], sorted(cells.items())])).hexdigest()
        event["id"] = "csv-" + digest[:32]
    return event


@dataclass
class ImportResult:
    accepted: list[Accepted]
    rejected: list[tuple[int, dict[str, str], str]]  # (row number, cells, reason)
    fieldnames: list[str]


def read_csv(path: str | Path, mapping: Mapping) -> ImportResult:
    """Every row of the file, accepted (a valid event) or rejected with a reason. Row
    numbers count the header as row 1, as a spreadsheet shows them."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode(mapping.encoding)
    except UnicodeDecodeError as exc:
        raise MappingError(
            f"{path} is not {mapping.encoding} text (byte 0x{raw[exc.start]:02x} at position {exc.start}); "
            "set `encoding:` in the mapping, e.g. encoding: latin-1"
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=mapping.delimiter)
    fieldnames = [f.strip() for f in reader.fieldnames or []]
    reader.fieldnames = fieldnames
    absent = sorted(mapping.columns() - set(fieldnames))
    if absent:
        raise MappingError(f"{path} lacks the column(s) {', '.join(map(repr, absent))} that the mapping reads")
    result = ImportResult([], [], fieldnames)
    for number, cells in enumerate(reader, start=2):
        if None in cells:
            result.rejected.append((number, cells, "more cells than header columns"))
            continue
        try:
            event = to_event(mapping, cells)
        except RowError as exc:
            result.rejected.append((number, cells, str(exc)))
            continue
        checked = validate_event(event)
        if isinstance(checked, Rejected):
            result.rejected.append((number, cells, checked.reason))
        else:
            result.accepted.append(checked)
    return result


def rejects_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + ".rejects.csv")


def write_rejects(path: str | Path, result: ImportResult) -> Path | None:
    """The rejected rows next to the input, with their row number and reason; None if none."""
    target = rejects_path(path)
    if not result.rejected:
        target.unlink(missing_ok=True)
        return None
    with target.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["row", "reason", *result.fieldnames], extrasaction="ignore")
        writer.writeheader()
        for number, cells, reason in result.rejected:
            writer.writerow({**{k: v for k, v in cells.items() if k is not None}, "row": number, "reason": reason})
    return target
