"""The windows of ../shared/CONTRACT.md §3 as of a time T, as both health queries take
them (`metrics`, every partner in full or a few from their raw rows; `health_state`,
from the day's state): each T's frame of window starts, and the rhythm's quantile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streams.formats import aware
from streams.rules.scoring import Scoring

TIME = "DateTime64(3, 'UTC')"
# Each window's start, as a name; a frame is T (`as_of`) and they.
STARTS = ("month_ago", "two_months_ago", "baseline_from", "activity_from", "recent_from", "usual_from", "rhythm_from")
EDGES = ("as_of", *STARTS)

# The usual gap from a partner's sorted `gaps` (also as health_state computes it).
RHYTHM_QUANTILE = """{gap_quantile} * (length(gaps) - 1) AS gap_at,
    if(length(gaps) >= {min_gaps:UInt32},
       gaps[toUInt32(gap_at) + 1] + (gap_at - floor(gap_at)) * (gaps[least(toUInt32(gap_at) + 2, length(gaps))]
                                                              - gaps[toUInt32(gap_at) + 1]),
       NULL) AS usual_gap_days"""


def sql_time(value: datetime) -> str:
    """A time as the text of a DateTime64(3) parameter (UTC, to the millisecond)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def to_millis(t: datetime) -> datetime:
    """T as DateTime64(3) holds it (and as the answer's as_of comes back): aware, to the ms."""
    t = aware(t)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def shared_params(scoring: Scoring) -> dict[str, Any]:
    """Parameters both queries take: the divisors of the usual windows, the rhythm's
    least number of gaps."""
    return dict(
        baseline_months=float(scoring.raw["windows_days"]["baseline_months"]),
        usual_windows=float(scoring.decline("usual_windows")),
        min_gaps=int(scoring.rhythm("min_gaps")),
    )


def frames_at(times: list[datetime], scoring: Scoring) -> list[tuple[datetime, ...]]:
    """Each T with its window starts (in EDGES order), as the scoring file sets them."""
    month = scoring.window("month")
    recent = timedelta(days=scoring.decline("window_days"))
    starts = [month, 2 * month, month * (1 + int(scoring.raw["windows_days"]["baseline_months"])),
              scoring.window("activity"), recent, recent * (1 + int(scoring.decline("usual_windows"))),
              timedelta(days=scoring.rhythm("history_days"))]  # fmt: skip
    return [(t, *(t - w for w in starts)) for t in times]
