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
    {column: NAME, type: list, split: ";", map: {…}, transform: slug}   a multi-select cell:
                                            items split, trimmed, each mapped/transformed

File settings: `delimiter:` (`,` by default; `;` for many European exports), `encoding:`
(`utf-8-sig` by default, which also reads plain UTF-8; e.g. `latin-1`), `decimal:` (`.`
by default, or `,`: how numbers are written — `45,5` with `decimal: ","`, `1,234.5` with
`.`; a number that does not fit the declared form is rejected with its line, never guessed).

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

    @property
    def decimal(self) -> str:
        return self.spec.get("decimal", ".")

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
    _check_settings(path, spec)
    return Mapping(spec, path.parent, lookups)


TYPES = ("string", "number", "integer", "boolean", "list")


def _check_settings(path: Path, spec: dict) -> None:
    """What can be wrong with the file as a whole is said at load, not on every row."""
    if spec.get("decimal", ".") not in (".", ","):
        raise MappingError(f"{path}: decimal must be '.' or ',', not {spec['decimal']!r}")
    delimiter = spec.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise MappingError(f"{path}: delimiter must be one character (',' or ';' or a tab), not {delimiter!r}")
    for node in _specs(spec):
        if not isinstance(node, dict):
            continue
        if "type" in node and node is not spec and node["type"] not in TYPES:
            raise MappingError(f"{path}: column {node.get('column')!r} has type {node['type']!r}; "
                               f"known types: {', '.join(TYPES)}")  # fmt: skip
        if "split" in node and (not isinstance(node["split"], str) or not node["split"]):
            raise MappingError(f'{path}: column {node.get("column")!r}: split must be the separator, e.g. ";"')
        if "transform" in node and node["transform"] not in TRANSFORMS:
            raise MappingError(f"{path}: unknown transform {node['transform']!r} (known: {', '.join(TRANSFORMS)})")


_NUMBER_FORMS = {
    # decimal separator -> (plain, grouped by thousands)
    ".": (re.compile(r"[-+]?\d+(\.\d+)?"), re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")),
    ",": (re.compile(r"[-+]?\d+(,\d+)?"), re.compile(r"[-+]?\d{1,3}([. \u00a0\u202f]\d{3})+(,\d+)?")),
}


def parse_number(text: str, decimal: str, integer: bool = False) -> float | int:
    """A number as the export wrote it, with `decimal` as its decimal separator; anything
    else (`45,5` when the decimal is '.', `1.5` when it is ',') is refused, never guessed."""
    plain, grouped = _NUMBER_FORMS[decimal]
    text = text.strip()
    if plain.fullmatch(text):
        normal = text.replace(",", ".") if decimal == "," else text
    elif grouped.fullmatch(text):
        thousands = re.sub(r"[\d+-]", "", text.split(decimal)[0])[:1]
        normal = text.replace(thousands, "").replace(",", ".") if decimal == "," else text.replace(",", "")
    else:
        other = "," if decimal == "." else "."
        hint = (
            f" (set decimal: '{other}' in the mapping if '{other}' is the decimal separator)" if other in text else ""
        )
        raise ValueError(f"{text!r} is not a number written with decimal '{decimal}'{hint}")
    value = float(normal)
    if integer:
        if not value.is_integer():
            raise ValueError(f"{text!r} is not a whole number")
        return int(value)
    return value


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
        if spec.get("type") == "list":
            return [self.item(spec, part.strip()) for part in text.split(spec.get("split", ";")) if part.strip()]
        return self.item(spec, text)

    def item(self, spec: dict, text: str) -> Any:
        """One cell's value (or one item of a list cell) by the spec's map, lookup, format, type."""
        if "transform" in spec:
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
        if kind in ("number", "integer"):
            try:
                return parse_number(text, self.m.decimal, integer=kind == "integer") if text else None
            except ValueError as exc:
                raise RowError(f"{spec['column']}: {exc}") from None
        if kind == "boolean":
            return text.lower() in ("1", "true", "yes", "y", "x")
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
    rejected: list[tuple[int, list[str], str]]  # (line where the row starts, its cells, reason)
    fieldnames: list[str]
    delimiter: str = ","


def read_csv(path: str | Path, mapping: Mapping) -> ImportResult:
    """Every row of the file, accepted (a valid event) or rejected with a reason. A row is
    named by the line it starts on, as an editor shows it (blank lines and cells that span
    lines counted)."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode(mapping.encoding)
    except UnicodeDecodeError as exc:
        raise MappingError(
            f"{path} is not {mapping.encoding} text (byte 0x{raw[exc.start]:02x} at position {exc.start}); "
            "set `encoding:` in the mapping, e.g. encoding: latin-1"
        ) from None
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=mapping.delimiter)
    header, line = next(reader, []), reader.line_num
    fieldnames = [f.strip() for f in header]
    absent = sorted(mapping.columns() - set(fieldnames))
    if absent:
        hint = ""
        if len(fieldnames) == 1 and ";" in fieldnames[0] and mapping.delimiter != ";":
            hint = "; its header looks semicolon-separated: set delimiter: ';' in the mapping"
        raise MappingError(f"{path} lacks the column(s) {', '.join(map(repr, absent))} that the mapping reads{hint}")
    result = ImportResult([], [], fieldnames, mapping.delimiter)
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not cells:
            continue  # a blank line
        if len(cells) > len(fieldnames):
            result.rejected.append((start, cells, f"{len(cells)} cells where the header has {len(fieldnames)}"))
            continue
        try:
            event = to_event(mapping, dict(zip(fieldnames, cells, strict=False)))
        except RowError as exc:
            result.rejected.append((start, cells, str(exc)))
            continue
        checked = validate_event(event)
        if isinstance(checked, Rejected):
            result.rejected.append((start, cells, checked.reason))
        else:
            result.accepted.append(checked)
    return result


def rejects_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + ".rejects.csv")


def write_rejects(path: str | Path, result: ImportResult) -> Path | None:
    """The rejected rows next to the input — their line and reason first, then every cell
    as it was (overflow cells too), in the input's delimiter; None if none."""
    target = rejects_path(path)
    if not result.rejected:
        target.unlink(missing_ok=True)
        return None
    with target.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=result.delimiter)
        writer.writerow(["line", "reason", *result.fieldnames])
        for line, cells, reason in result.rejected:
            writer.writerow([line, reason, *cells])
    return target
