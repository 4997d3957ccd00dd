"""Hierarchical composites: the pairwise rules, the win ratio and its CI, the Finkelstein-Schoenfeld
test (with one score level it is the Wilcoxon-Mann-Whitney test), the scenario's [[composites]]
and its one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from remit.diseases import get_disease
from remit.endpoints import Records
from remit.endpoints.composite import Composite, Level, _Data, compare_groups, level_columns
from remit.scenario import ScenarioError, parse_scenario

DEATH = Level("death", "event", "follow_up_years", "died")
FVC = Level("fvc", "score", score="fvc", lower_is_better=False)


def records(n1: int, n0: int, rng, fvc_gain=(2.0, 0.0), death=(0.05, 0.15), visits=(0.0, 1.0, 2.0)):
    """Two arms A (treated) and B (control): deaths at uniform times, FVC around 70 with a gain per year."""
    n = n1 + n0
    arm = np.array(["A"] * n1 + ["B"] * n0)
    died = rng.random(n) < np.where(arm == "A", death[0], death[1])
    fu = np.where(died, rng.uniform(0.1, 2.0, n), 2.0)
    pats = pd.DataFrame({"patient_id": np.arange(n), "arm": arm, "died": died, "follow_up_years": fu})
    gain = np.where(arm == "A", fvc_gain[0], fvc_gain[1])
    rows = [pd.DataFrame({"patient_id": np.arange(n), "endpoint": "fvc", "t_years": t,
                          "value": np.where(fu >= t, 70 + gain * t + rng.normal(0, 5, n), np.nan)}) for t in visits]
    return Records(pats, pd.concat(rows, ignore_index=True), 2.0, "B")


def reference_compare(levels, cols, i, j) -> int:
    """The hierarchy for one pair, written out rule by rule (the vectorised one must agree)."""
    for k, lv in enumerate(levels):
        if lv.kind == "event":
            t, e = cols[f"t{k}"], cols[f"e{k}"]
            shared = min(t[i], t[j])
            ti = t[i] if e[i] and t[i] <= shared else math.inf
            tj = t[j] if e[j] and t[j] <= shared else math.inf
            if ti < tj:
                return -1
            if tj < ti:
                return 1
        else:
            g = cols[f"g{k}"]
            common = [v for v in range(g.shape[1]) if np.isfinite(g[i, v]) and np.isfinite(g[j, v])]
            if common:
                d = g[i, common[-1]] - g[j, common[-1]]
                if d > lv.margin:
                    return 1
                if d < -lv.margin:
                    return -1
    return 0


@pytest.mark.parametrize("levels", [(DEATH,), (FVC,), (DEATH, FVC), (DEATH, Level("fvc", "score", score="fvc",
                                                                                      lower_is_better=False, margin=4))])
def test_pairwise_comparison_follows_the_hierarchy(levels):
    rng = np.random.default_rng(1)
    rec = records(30, 25, rng)
    cols = level_columns(levels, rec, rec.patients)
    got = _Data(levels, cols).compare(np.arange(55), np.arange(55))
    want = np.array([[reference_compare(levels, cols, i, j) for j in range(55)] for i in range(55)])
    assert np.array_equal(got, want)
    assert np.array_equal(got, -got.T)  # a win of i over j is a loss of j to i


def test_one_score_level_is_the_mann_whitney_test_and_win_ratio():
    rng = np.random.default_rng(2)
    rec = records(120, 100, rng, death=(0.0, 0.0), visits=(0.0, 2.0))
    cols = level_columns((FVC,), rec, rec.patients)
    data = _Data((FVC,), cols)
    i1, i0 = np.arange(120), np.arange(120, 220)
    x, y = cols["g0"][i1, 0], cols["g0"][i0, 0]
    r = compare_groups(data, i1, i0)
    assert r["fs_p"] == pytest.approx(stats.mannwhitneyu(x, y, use_continuity=False, method="asymptotic").pvalue,
                                      rel=1e-9)
    assert r["wins"] == (x[:, None] > y[None, :]).sum() and r["losses"] == (x[:, None] < y[None, :]).sum()


def test_win_ratio_interval_covers_the_truth():
    """Over repeated trials the 95% CI of the win ratio holds the win ratio of a very large trial about 95%
    of the time (binomial 99% bounds for 200 trials)."""
    c = Composite("grc", "GRC", (DEATH, FVC))
    big = pd.DataFrame(c.rows(records(3000, 3000, np.random.default_rng(0)))).set_index("endpoint")
    truth = big.loc["grc_win_ratio", "estimate"]
    hits = 0
    for s in range(200):
        ep = pd.DataFrame(c.rows(records(60, 60, np.random.default_rng(100 + s)))).set_index("endpoint")
        hits += ep.loc["grc_win_ratio", "ci_low"] <= truth <= ep.loc["grc_win_ratio", "ci_high"]
    assert 0.89 <= hits / 200 <= 0.99, hits


def test_rows_name_and_direction():
    rec = records(200, 200, np.random.default_rng(3))
    ep = pd.DataFrame(Composite("grc", "GRC", (DEATH, FVC)).rows(rec))
    assert list(ep["endpoint"]) == ["grc_win_ratio", "grc_net_benefit", "grc_fs_p"]
    assert (ep["arm"] == "A vs B").all() and (ep["n"] == 400).all()
    wr, nb, p = ep["estimate"]
    assert wr > 1.5 and nb > 0.15 and p < 1e-4  # fewer deaths and better FVC in A
    flipped = pd.DataFrame(Composite("grc", "GRC", (DEATH, FVC)).rows(
        Records(rec.patients, rec.outcomes, 2.0, "A")))
    assert flipped.iloc[0]["estimate"] == pytest.approx(1 / wr)


# -------------------------------------------------------------------- scenarios

def ssc(composites) -> dict:
    s = get_disease("systemic_sclerosis").example()
    s["composites"] = composites
    return s


def test_scenario_declares_a_composite_the_trial_reports(tmp_path):
    from remit.trial import Trial

    spec = parse_scenario(ssc([{"name": "grc", "hierarchy": ["death", "organ_failure", {"endpoint": "fvc", "margin": 10},
                                                             "mrss"]}]))
    grc = spec.catalog[-1]
    assert isinstance(grc, Composite) and [lv.name for lv in grc.levels] == ["death", "organ_failure", "fvc", "mrss"]
    assert grc.levels[2].margin == 10 and grc.levels[3].lower_is_better and not grc.levels[2].lower_is_better
    res = Trial(spec).run(out=tmp_path / "run", chunk_size=20)
    rows = res.endpoints[res.endpoints["endpoint"].str.startswith("grc_")]
    assert set(rows["endpoint"]) == {"grc_win_ratio", "grc_net_benefit", "grc_fs_p"}
    assert 'id="fig-composite_grc"' in (tmp_path / "run" / "report.html").read_text()


@pytest.mark.parametrize("composites, message", [
    ([{"name": "grc", "hierarchy": ["death", "edss"]}],
     r"composites\[0\]\.hierarchy\[1\] = 'edss': must be one of death, .*organ_failure.*mrss"),
    ([{"name": "grc", "hierarchy": ["death", "death"]}], r"composites\[0\]\.hierarchy\[1\] = 'death': is listed twice"),
    ([{"name": "grc", "hierarchy": [{"endpoint": "death", "margin": 1}]}],
     r"composites\[0\]\.hierarchy\[0\]\.margin = 1\.0: sets a margin, which only a score level has"),
    ([{"name": "mean_mrss", "hierarchy": ["death"]}], r"composites\[0\]\.name = 'mean_mrss': is already the name"),
    ([{"name": "GRC", "hierarchy": ["death"]}], r"composites\[0\]\.name"),
    ([{"name": "grc", "hierarchy": []}], r"composites\[0\]\.hierarchy: must list between 1 and 8 levels"),
])
def test_bad_composites_are_one_line_errors(composites, message):
    with pytest.raises(ScenarioError, match=message) as err:
        parse_scenario(ssc(composites), "s.toml")
    assert "\n" not in str(err.value)
