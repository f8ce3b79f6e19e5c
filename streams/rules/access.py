"""Who may do what on the pipeline's web port (../shared/CONTRACT.md §5), pure.

Three scopes: `ingest` (POST /events), `read` (/api/*, /status) and `admin` (read, and
POST /dlq/replay). A read route takes read or admin tokens; an admin route admin tokens
only; ingest its own. Probes (/healthz, /readyz) take none and say only up/ready.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass


class Denied(Exception):
    """(HTTP status, a sentence): 401 without credentials, 403 with wrong ones."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Tokens:
    ingest: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    admin: tuple[str, ...] = ()

    def of(self, scope: str) -> tuple[str, ...]:
        """The tokens that open a route of `scope`."""
        return {"ingest": self.ingest, "read": self.read + self.admin, "admin": self.admin}[scope]


def check_bearer(header: str | None, tokens: tuple[str, ...], scope: str) -> None:
    """Raise Denied unless `header` is `Bearer <one of tokens>`. Every token is compared
    in constant time, so timing tells nothing about which or how much matched; a token
    is never part of a message."""
    if not header or not header.lower().startswith("bearer ") or not header[7:].strip():
        raise Denied(401, f"send an Authorization: Bearer <token> header with a {scope} token")
    given = header[7:].strip().encode()
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token.encode())
    if not matched:
        raise Denied(403, f"the bearer token is not valid for {scope}")
