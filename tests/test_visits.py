"""``[trial] visits``: the notation, the default schedules, the one-line errors, and the outcome
values at a visit off the solver's output times (interpolated, with a draw of its own).

That every endpoint of every disease is reported at each visit, and that added visits change no
other number, is checked for all diseases in tests/test_conformance.py."""

from __future__ import annotations

import numpy as np
import pytest

from remit.diseases import get_disease
from remit.scenario import ScenarioError, parse_scenario
from remit.schedule import OFF_GRID_ID, YEAR, VisitGrid, visit_days


def scenario(visits=None, follow_up_years=2.0, disease="multiple_sclerosis") -> dict:
    s = get_disease(disease).example()
    s["trial"]["follow_up_years"] = follow_up_years
    if visits is not None:
        s["trial"]["visits"] = visits
    return s


@pytest.mark.parametrize("text, days", [("4w", 28.0), ("12w", 84.0), ("6m", YEAR / 2), ("1y", YEAR),
                                        ("54m", 4.5 * YEAR), ("100d", 100.0), ("1.5y", 1.5 * YEAR), (" 2 w ", 14.0)])
def test_notation(text, days):
    assert visit_days(text) == pytest.approx(days, abs=1e-9)


def test_given_visits_are_the_schedule_sorted():
    spec = parse_scenario(scenario(["1y", "4w", "18m", "12w"]))
    assert np.allclose(spec.visit_years, [28 / YEAR, 84 / YEAR, 1.0, 1.5])
    assert spec.trial.visits == ("1y", "4w", "18m", "12w")  # kept as written: to_toml round-trips
    assert "visits = [" in spec.to_toml()


def test_default_schedule_per_disease():
    ms = parse_scenario(scenario(follow_up_years=2.5))
    assert ms.trial.visits is None
    assert np.allclose(ms.visit_years, [0.5, 1.0, 2.0, 2.5])  # 6 months, whole years, end of follow-up
    ra = parse_scenario(scenario(follow_up_years=1.0, disease="rheumatoid_arthritis"))
    assert np.allclose(ra.visit_years, [28 / YEAR, 84 / YEAR, 168 / YEAR, 0.5, 1.0])
    short = parse_scenario(scenario(follow_up_years=0.25, disease="rheumatoid_arthritis"))
    assert np.allclose(short.visit_years, [28 / YEAR, 84 / YEAR, 0.25])  # only the visits within follow-up


@pytest.mark.parametrize("visits, message", [
    (["6m", "6x"], r"trial\.visits\[1\] = '6x': must be a time like 4w, 6m, 1y or 100d \(a number, then d, w, m or y\)$"),
    (["3y"], r"trial\.visits\[0\] = '3y': must be after randomisation and within follow-up \(0 to 2 years = 730.5 days\)$"),
    (["0w"], r"trial\.visits\[0\] = '0w': must be after randomisation"),
    (["1m", "30d"], r"trial\.visits\[1\] = '30d': falls on the same day as '1m' \(day 30\)$"),
    ([0.5], r"trial\.visits\[0\]"),
    ([], r"trial\.visits.*must list between 1 and 60 visits"),
])
def test_bad_visits_are_one_line_errors(visits, message):
    with pytest.raises(ScenarioError, match=message) as err:
        parse_scenario(scenario(visits), "s.toml")
    assert "\n" not in str(err.value) and str(err.value).startswith("s.toml: ")


def test_visit_between_output_times_is_interpolated_with_its_own_draw():
    t = np.array([0.0, 150.0, 157.0, 164.0, 171.0, YEAR / 2])
    x = np.array([[0.0, 150.0, 157.0, 164.0, 171.0, 200.0]])
    grid = VisitGrid.on(t, [0.0, 168.0, YEAR / 2])
    assert np.allclose(grid.take(x), [[0.0, 168.0, 200.0]])  # linear between 164 and 171
    assert grid.take(x)[0, 2] == x[0, 5]  # on an output time: the value itself, not arithmetic on it
    assert list(grid.ids) == [0, OFF_GRID_ID + 168, 2]  # quarterly visits keep their index
    assert list(grid.quarter) == [0, -1, 2]
    assert list(grid.last_index) == [0, 3, 5]
    with pytest.raises(ValueError, match="within the output times"):
        VisitGrid.on(t, [YEAR])


def test_visit_off_the_grid_measures_its_own_scores(tmp_path):
    """A visit a day after a quarterly one reads nearly the same states but draws its own
    measurement error, so its scores differ from the quarterly visit's while their means agree."""
    from remit.trial import Trial

    spec = parse_scenario(scenario(["6m", "184d"], follow_up_years=1.0))
    res = Trial(spec).run(chunk_size=20)
    edss = res.outcome("edss")
    a, b = edss[0.5].to_numpy(), edss[184 / YEAR].to_numpy()
    alive = np.isfinite(a) & np.isfinite(b)
    assert alive.sum() > 30 and (a[alive] != b[alive]).any()
    assert abs(a[alive].mean() - b[alive].mean()) < 0.5
