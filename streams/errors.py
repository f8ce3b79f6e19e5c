"""The errors a user sees: each message says what to do. The CLI catches the base class
once (`streams.cli`), whichever command raised it."""

from __future__ import annotations


class PartnerPulseError(Exception):
    """Something the user can act on; the message says what."""


class StoreError(PartnerPulseError):
    """ClickHouse cannot be used (unreachable, locked, migration failed)."""


class BrokerError(PartnerPulseError):
    """Kafka cannot be used (embedded broker failed, bootstrap unreachable)."""


class SendError(PartnerPulseError):
    """Nothing can be sent (no broker, unreadable input)."""


class PipelineError(PartnerPulseError):
    """The running pipeline cannot be used (not ready, not answering, already running)."""


class ScoringError(PartnerPulseError, ValueError):
    """The scoring file is unusable; the message says where."""


class FitError(PartnerPulseError, ValueError):
    """The ideal partner file is unusable; the message names its line and the reason."""


class NotFoundError(PartnerPulseError, ValueError):
    """What was asked about does not exist (an unknown partner): the API answers 404."""


class MappingError(PartnerPulseError, ValueError):
    """A CSV mapping file is unusable; the message says where."""


class PublishError(PartnerPulseError):
    """Grafana refused or could not be reached."""
