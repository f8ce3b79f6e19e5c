"""The windows of ../shared/CONTRACT.md §3 as of a time T, as both health queries take
them (`metrics`, every partner in full or a few from their raw rows; `health_state`,
from the day's state): each T's frame of window starts, and the rhythm's quantile."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.formats import aware
from streams.rules.scoring import Scoring

TIME = "DateTime64(3, 'UTC')"
# Each window's start, as a name; a frame is T (`as_of`) and they.
STARTS = ("month_ago", "two_months_ago", "baseline_from", "activity_from", "recent_from", "usual_from", "rhythm_from")
EDGES = ("as_of", *STARTS)


def rhythm_quantile(count: str = "length(gaps)", nth: Callable[[str], str] = "gaps[{}]".format) -> str:
    """The usual gap (§3): the configured quantile of a partner's gaps, interpolated at
    q·(n−1) as `scoring.gap_quantile` does; NULL below min_gaps. `count` is how many gaps
    and `nth(k)` the k-th smallest (from 1): a sorted column `gaps` by default; the state
    (`health_state`) names them without building the array."""
    lo, hi = "toUInt32(gap_at) + 1", f"least(toUInt32(gap_at) + 2, {count})"
    return f"""{{gap_quantile}} * ({count} - 1) AS gap_at,
    if({count} >= {{min_gaps:UInt32}}, {nth(lo)} + (gap_at - floor(gap_at)) * ({nth(hi)} - {nth(lo)}), NULL)
        AS usual_gap_days"""


RHYTHM_QUANTILE = rhythm_quantile()


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
