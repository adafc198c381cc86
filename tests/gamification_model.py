"""Pure Python rules of the gamification model used by tests/test_gamification_machine.py.

Nothing here talks to the database: local dates come from zoneinfo (not from SQL), ranks and periods
are recomputed from the model's own ledger, so the machine compares two independent derivations.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Iterable

UTC = dt.timezone.utc


def local_date(at: dt.datetime, zone: str) -> dt.date:
    """The calendar date of instant ``at`` on a wall clock in ``zone`` (DST handled by zoneinfo)."""
    return at.astimezone(zoneinfo.ZoneInfo(zone)).date()


def py_next_streak(prev: dt.date | None, streak: int, new: dt.date) -> int:
    """The in-order step of the streak rule (gamification.next_streak), for the models: the next date
    extends, the same date keeps, a gap resets to 1; an earlier date keeps (the functions never take this
    step for an earlier date since V0137: they recompute, see ``streaks``)."""
    if prev is None or streak == 0:
        return 1
    if new == prev:
        return streak
    if new == prev + dt.timedelta(days=1):
        return streak + 1
    if new < prev:
        return streak
    return 1


def streaks(dates: Iterable[dt.date]) -> tuple[int, int, dt.date | None]:
    """(current, longest, last) streak for award local dates, in any order (V0137).

    Every date counts, whatever order the awards were applied in (a late, back-dated award fills a gap
    or joins two runs). A run is a maximal sequence of consecutive calendar dates among the distinct
    dates; current = the length of the run ending at the latest date, longest = the longest run, last =
    the latest date; (0, 0, None) without dates. Nothing else (hours between awards, DST, time zone
    changes) plays a part.
    """
    runs: list[int] = []
    prev: dt.date | None = None
    for d in sorted(set(dates)):
        if prev is not None and d == prev + dt.timedelta(days=1):
            runs[-1] += 1
        else:
            runs.append(1)
        prev = d
    return (runs[-1] if runs else 0, max(runs, default=0), prev)


def expirable(rows: Iterable[tuple[int, dt.datetime]], cutoff: dt.datetime) -> int:
    """FIFO expiry (V0130): max(0, positive amounts dated before the cutoff + every negative amount)."""
    total = 0
    for amount, at in rows:
        if amount < 0 or at < cutoff:
            total += amount
    return max(0, total)


def week_bounds(zone: str, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the ISO week (Monday local midnight) containing ``at`` in ``zone``."""
    tz = zoneinfo.ZoneInfo(zone)
    d = at.astimezone(tz).date()
    monday = d - dt.timedelta(days=d.weekday())
    nxt = monday + dt.timedelta(days=7)
    return (dt.datetime(monday.year, monday.month, monday.day, tzinfo=tz),
            dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz))


def competition_ranks(scores: dict[uuid.UUID, int]) -> list[tuple[int, int, uuid.UUID, int]]:
    """(place, rank, user, score) of the users with a score above 0: place 1..n by score descending, then
    user id; rank = 1 + the number of users with a higher score (competition ties, 1-2-2-4)."""
    ranked = sorted(((s, u) for u, s in scores.items() if s > 0), key=lambda x: (-x[0], x[1]))
    return [(place, 1 + sum(1 for t, _ in ranked if t > s), u, s) for place, (s, u) in enumerate(ranked, 1)]


def utc_offsets_change(zone: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The instants in [start, end) at which ``zone`` changes its UTC offset (hourly scan, then to the
    minute): DST transitions a simulated clock running through that interval crosses."""
    tz = zoneinfo.ZoneInfo(zone)
    out: list[dt.datetime] = []
    t = start.replace(minute=0, second=0, microsecond=0)
    while t + dt.timedelta(hours=1) <= end:
        nxt = t + dt.timedelta(hours=1)
        if t.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            lo = t
            while lo.astimezone(tz).utcoffset() == t.astimezone(tz).utcoffset():
                lo += dt.timedelta(minutes=1)
            out.append(lo)
        t = nxt
    return out
