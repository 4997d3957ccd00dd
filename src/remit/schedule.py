"""Visit schedules: the times after randomisation at which a trial reports its endpoints.

A scenario names them in ``[trial] visits`` the way protocols do, as a number and a unit::

    visits = ["4w", "12w", "6m", "1y", "54m"]

``d`` days, ``w`` weeks (7 days), ``m`` months (a twelfth of a year, 30.44 days) and ``y`` years
(365.25 days). Every score, proportion and time-to-event endpoint is reported at each visit,
and mortality too. Without ``visits`` a trial uses its disease's default schedule
(``Disease.visits``: the sub-annual visits its trials report), every whole year of follow-up,
and the end of follow-up.

Clinical events (confirmed progression, flares, relapses) are still ascertained at the
disease's own quarterly assessments (``Disease`` modules say which); a report visit between
two of them is one more assessment of the scores, with its own measurement noise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

YEAR = 365.25  # days
UNIT_DAYS = {"d": 1.0, "w": 7.0, "m": YEAR / 12.0, "y": YEAR}
UNIT_WORDS = {"d": "days", "w": "weeks", "m": "months", "y": "years"}
VISIT_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dwmy])\s*$")
QUARTER_DAYS = YEAR / 4.0  # the disease's own assessments, every 3 months
# measurement-noise ids of the assessments: quarterly visit j is j; a visit off that grid is
# OFF_GRID_ID + its whole day, so that its draws do not depend on which other visits exist
OFF_GRID_ID = 1000
MAX_VISITS = 60


def visit_days(text: str) -> float:
    """Days after randomisation of a visit written ``"<number><d|w|m|y>"``; ValueError if not."""
    m = VISIT_PATTERN.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError("must be a time like 4w, 6m, 1y or 100d (a number, then d, w, m or y)")
    return float(m.group(1)) * UNIT_DAYS[m.group(2)]


def check_visits(visits: tuple[str, ...], follow_up_years: float) -> tuple[int, str] | None:
    """The first problem of a ``visits`` list as (index, reason), or None: each within follow-up,
    no two on the same day."""
    end = follow_up_years * YEAR
    seen: dict[int, str] = {}
    for i, text in enumerate(visits):
        try:
            d = visit_days(text)
        except ValueError as e:
            return i, str(e)
        if not 0 < d <= end + 1e-6:
            return i, f"must be after randomisation and within follow-up (0 to {follow_up_years:g} years = {end:g} days)"
        day = round(d)
        if day in seen:
            return i, f"falls on the same day as {seen[day]!r} (day {day})"
        seen[day] = text
    return None


def default_visits(follow_up_years: float, sub_annual: tuple[str, ...]) -> tuple[float, ...]:
    """The default schedule (years): the disease's sub-annual visits, every whole year, the end of follow-up."""
    end = follow_up_years * YEAR
    days = [d for d in map(visit_days, sub_annual) if d <= end + 1e-6]
    days += [k * YEAR for k in range(1, int(math.floor(follow_up_years + 1e-9)) + 1)]
    days.append(end)
    return schedule_years(days)


def schedule_years(days) -> tuple[float, ...]:
    """Visit times in years, sorted, one per day (the first of any within 1e-6 days of each other)."""
    out: list[float] = []
    for d in sorted(float(x) for x in days):
        if not out or d - out[-1] * YEAR > 1e-6:
            out.append(d / YEAR)
    return tuple(out)


@dataclass(frozen=True)
class VisitGrid:
    """Assessment visits of one trial on its output times ``t``: ``days`` (V,) from randomisation,
    0 first; ``ids`` their measurement-noise ids (:data:`OFF_GRID_ID`: a quarterly assessment's
    is its number).

    A visit on an output time reads the states there; one between two output times (the grid is
    daily for 150 days, weekly after) reads them linearly interpolated, so that asking for a visit
    changes neither the solver's steps nor any draw made per output interval.
    """

    days: np.ndarray
    index: np.ndarray  # first output time at or after each visit
    weight: np.ndarray  # interpolation weight of t[index] (1: the visit is on it)
    ids: np.ndarray

    @classmethod
    def on(cls, t: np.ndarray, days) -> "VisitGrid":
        days = np.asarray(days, dtype=float)
        if days.size and (days.min() < t[0] - 1e-6 or days.max() > t[-1] + 1e-6):
            raise ValueError(f"visits must lie within the output times {t[0]:g} to {t[-1]:g} days")
        k = np.round(days / QUARTER_DAYS)
        on_grid = np.abs(days - k * QUARTER_DAYS) < 1e-6
        ids = np.where(on_grid, k, OFF_GRID_ID + np.round(days)).astype(np.int64)
        index = np.minimum(np.searchsorted(t, days - 1e-6), len(t) - 1)
        exact = np.abs(t[index] - days) < 1e-6
        prev = t[np.maximum(index - 1, 0)]
        weight = np.where(exact, 1.0, (days - prev) / np.where(exact, 1.0, t[index] - prev))
        return cls(days, index, weight, ids)

    @property
    def quarter(self) -> np.ndarray:
        """The quarterly assessment each visit is (-1 if it is not one), read from its id."""
        return np.where(self.ids < OFF_GRID_ID, self.ids, -1)

    def take(self, x: np.ndarray) -> np.ndarray:
        """Values (n, V) at the visits of a trajectory ``x`` (n, T) on the output times."""
        out = x[:, self.index]
        off = self.weight < 1.0
        if off.any():
            i, w = self.index[off], self.weight[off]
            out[:, off] = (1.0 - w) * x[:, i - 1] + w * x[:, i]
        return out

    @property
    def last_index(self) -> np.ndarray:
        """Position of the last output time at or before each visit."""
        return np.where(self.weight < 1.0, self.index - 1, self.index)

    def take_last(self, x: np.ndarray) -> np.ndarray:
        """Values (n, V) of a trajectory ``x`` (n, T) at the last output time at or before each visit
        (for a status, such as insulin-free, that is not interpolated)."""
        return x[:, self.last_index]

    @property
    def years(self) -> np.ndarray:
        return self.days / YEAR

    def __len__(self) -> int:
        return len(self.days)

    def last_quarter_before(self, quarterly_days: np.ndarray) -> np.ndarray:
        """Position, in the quarterly visits ``quarterly_days``, of the last one strictly before each visit
        (0 for the baseline visit itself)."""
        return np.maximum(np.searchsorted(quarterly_days, self.days - 1e-6) - 1, 0)

    def quarters_up_to(self, quarterly_days: np.ndarray) -> np.ndarray:
        """Number of quarterly visits at or before each visit (the history a visit's cumulative outcomes read)."""
        return np.searchsorted(quarterly_days, self.days + 1e-6)
