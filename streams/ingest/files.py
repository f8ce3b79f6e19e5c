"""Reading JSONL files of CloudEvents (and stdin) line by line, for `send`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from streams.errors import SendError


def read_lines(paths: Iterable[str]) -> Iterator[tuple[str, int, bytes]]:
    """(file name, line number, raw line) for each non-blank line; `-` is stdin."""
    for name in paths:
        if name != "-" and Path(name).suffix.lower() == ".csv":
            raise SendError(f"{name}: a CSV file needs --mapping MAPPING.yaml (see schemas/mappings/)")
        try:
            stream = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115
        except OSError as exc:
            raise SendError(f"cannot read {name}: {exc.strerror}") from exc
        with contextlib.nullcontext(stream) if name == "-" else stream:
            for number, line in enumerate(stream, start=1):
                line = line.rstrip(b"\r\n")
                if line.strip():
                    yield ("<stdin>" if name == "-" else name), number, line
