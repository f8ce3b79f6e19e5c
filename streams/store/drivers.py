"""The engagements behind a change of score (../shared/CONTRACT.md §7): those that
entered the 30-day window (T−30d, T] and were not in (T0−30d, T0], and those that left."""

from __future__ import annotations

from datetime import datetime

from clickhouse_connect.driver.client import Client

from streams.formats import aware, naive_utc
from streams.rules.explanation import Driver
from streams.rules.scoring import Scoring

_SQL = """
SELECT id, source, type, time, duration_minutes * {weight} AS quality_minutes,
       if(time > {now_from:DateTime64(3, 'UTC')} AND time <= {now:DateTime64(3, 'UTC')}, 'entered', 'left')
FROM engagement_events
WHERE partner_id = {partner:String}
  AND time > least({then_from:DateTime64(3, 'UTC')}, {now_from:DateTime64(3, 'UTC')})
  AND time <= greatest({then:DateTime64(3, 'UTC')}, {now:DateTime64(3, 'UTC')})
  AND (time > {now_from:DateTime64(3, 'UTC')} AND time <= {now:DateTime64(3, 'UTC')})
   != (time > {then_from:DateTime64(3, 'UTC')} AND time <= {then:DateTime64(3, 'UTC')})
LIMIT 1 BY source, id
"""


def window_drivers(client: Client, partner: str, then: datetime, now: datetime, scoring: Scoring) -> list[Driver]:
    """Every engagement of `partner` in one window and not the other (all of them: the
    summary counts them; `explanation.ranked` keeps the largest)."""
    month = scoring.window("month")
    params = {"partner": partner, "then": naive_utc(then), "now": naive_utc(now), "then_from": naive_utc(then - month),
              "now_from": naive_utc(now - month)}  # fmt: skip
    rows = client.query(_SQL.replace("{weight}", scoring.weight_sql()), parameters=params).result_rows
    return [Driver(id_, source, type_, aware(time), float(q), effect) for id_, source, type_, time, q, effect in rows]
