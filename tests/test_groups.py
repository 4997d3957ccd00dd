"""Mixed cohorts: ``[[population.groups]]``, each group enrolled from its own population, every arm
holding the same share of each group, and the endpoints of each group on its own (subgroups)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from remit.endpoints import compute_endpoints
from remit.evidence.compare import simulated_value
from remit.evidence.schema import MappingEntry
from remit.scenario import ScenarioError, parse_scenario
from remit.trial import GROUP_STRIDE, Trial, group_sizes, requested_baseline

MIXED = {
    "trial": {"name": "mixed", "disease": "multiple_sclerosis", "seed": 5, "follow_up_years": 1.0,
              "patients_per_arm": 25},
    "population": {
        "age": {"mean": 40, "sd": 8, "min": 18, "max": 60},
        "edss": {"mean": 4.0, "sd": 1.2, "min": 2.0, "max": 6.5},
        "groups": [
            {"name": "relapsing", "fraction": 0.4, "course": "relapsing_remitting", "relapses_prior_year": {"min": 1}},
            {"name": "progressive", "fraction": 0.6, "course": "secondary_progressive",
             "edss": {"mean": 5.5, "sd": 0.8, "min": 4.0, "max": 6.5}},
        ],
    },
    "arms": [
        {"name": "aHSCT", "therapy": "ahsct", "mobilization": {"cyclophosphamide_g_per_m2": 2.0, "g_csf": True},
         "graft": {"source": "peripheral_blood", "cd34_per_kg": 5.0e6}, "conditioning": {"regimen": "cy_atg"}},
        {"name": "DMT", "therapy": "conventional", "drugs": ["ocrelizumab"]},
    ],
}


def mixed(**changes):
    data = copy.deepcopy(MIXED)
    for path, value in changes.items():
        *head, last = path.split("__")
        node = data
        for key in head:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is None:
            node.pop(last)
        else:
            node[last] = value
    return data


@pytest.fixture(scope="module")
def run():
    return Trial(parse_scenario(mixed(), "mixed.toml"), "mixed.toml").run(chunk_size=1000)


@pytest.mark.parametrize("change, message", [
    ({"population__groups__1__fraction": 0.5},
     "population.groups[1].fraction = 0.5: must add up to 1 over the groups (0.4 + 0.5 = 0.9)"),
    ({"population__groups__1__fraction": 0}, "population.groups[1].fraction = 0: must be between 0 (exclusive) and 1"),
    ({"population__groups__1__fraction": None}, "population.groups[1].fraction: missing required field"),
    ({"population__groups__1__name": "Relapsing"}, "population.groups[1].name = 'Relapsing': is the name of an earlier group"),
    ({"population__groups__1__name": "2nd"}, "population.groups[1].name = '2nd': must be letters, digits and _"),
    ({"population__groups__1__edss": {"mean": 7.0, "min": 4.0, "max": 6.5}},
     "population.groups[1].edss.mean = 7.0: must lie between min and max (4 and 6.5 EDSS points)"),
    ({"population__groups__0__relapses_prior_year": {"min": 3, "max": 1}},
     "population.groups[0].relapses_prior_year.min = 3: must not exceed max (1)"),
    ({"population__groups__1__prior_dmt": ["aspirin"]}, "population.groups[1].prior_dmt[0] = 'aspirin': must be one of"),
    ({"population__groups__1__course": "benign"}, "population.groups[1].course = 'benign': must be one of relapsing_remitting"),
    ({"population__groups__1__colour": "red"}, "population.groups[1].colour: unknown key (allowed: age,"),
    ({"population__groups": [{"name": f"g{i}", "fraction": 1 / 9} for i in range(9)]},
     "population.groups: must list between 0 and 8 groups, got 9"),
])
def test_bad_groups_get_one_line(change, message):
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(mixed(**change), "s.toml")
    assert str(exc.value).startswith("s.toml: " + message), str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_group_takes_the_trial_wide_fields_it_does_not_set_and_round_trips():
    spec = parse_scenario(mixed(), "s.toml")
    relapsing, progressive = spec.subpopulations
    assert (relapsing.name, relapsing.fraction, progressive.fraction) == ("relapsing", 0.4, 0.6)
    assert relapsing.spec.population.edss == spec.population.edss  # trial-wide
    assert progressive.spec.population.edss.mean == 5.5  # its own, replaced as a whole
    assert progressive.spec.population.relapses_prior_year.min == 0
    assert relapsing.spec.population.course == "relapsing_remitting"
    assert progressive.spec.population.course == "secondary_progressive"
    assert relapsing.spec.population.groups == ()
    import tomllib

    again = parse_scenario(tomllib.loads(spec.to_toml()), "again.toml")
    assert again == spec
    assert [g.spec.population for g in again.subpopulations] == [g.spec.population for g in spec.subpopulations]


@pytest.mark.parametrize("fractions, n, sizes", [
    ((0.4, 0.6), 25, (10, 15)), ((1 / 3, 1 / 3, 1 / 3), 10, (4, 3, 3)), ((0.05, 0.95), 10, (1, 9)),
    ((0.01, 0.99), 10, (0, 10)), ((0.5, 0.5), 1, (1, 0)),
])
def test_group_sizes_add_up_by_largest_remainder(fractions, n, sizes):
    groups = [{"name": f"g{i}", "fraction": f} for i, f in enumerate(fractions)]
    spec = parse_scenario(mixed(population__groups=groups, trial__patients_per_arm=n), "s.toml")
    assert group_sizes(spec) == sizes


def test_requested_baseline_is_the_mixture_of_the_groups():
    req = requested_baseline(parse_scenario(mixed(), "s.toml"))["edss_baseline"]
    mean = 0.4 * 4.0 + 0.6 * 5.5
    var = 0.4 * (1.2**2 + (4.0 - mean) ** 2) + 0.6 * (0.8**2 + (5.5 - mean) ** 2)
    assert req == pytest.approx({"mean": mean, "sd": np.sqrt(var), "min": 2.0, "max": 6.5})


def test_every_arm_holds_each_group_in_its_share_drawn_from_its_own_population(run):
    p = run.patients
    counts = p.groupby(["arm", "group"]).size().to_dict()
    assert counts == {("aHSCT", "relapsing"): 10, ("aHSCT", "progressive"): 15,
                      ("DMT", "relapsing"): 10, ("DMT", "progressive"): 15}
    rel, prog = p[p["group"] == "relapsing"], p[p["group"] == "progressive"]
    assert set(rel["course"]) == {"relapsing_remitting"} and set(prog["course"]) == {"secondary_progressive"}
    assert rel["relapses_prior_year"].min() >= 1
    assert prog["edss_baseline"].between(4.0, 6.5).all() and rel["edss_baseline"].between(2.0, 6.5).all()
    # own candidate streams: group g screens candidates g x GROUP_STRIDE onwards
    assert rel["candidate_id"].max() < GROUP_STRIDE <= prog["candidate_id"].min()
    info = run.provenance["enrolment"]
    assert set(info["groups"]) == {"relapsing", "progressive"}
    assert info["candidates_screened"] == sum(g["candidates_screened"] for g in info["groups"].values())


def test_subgroup_endpoints_are_each_groups_patients_analysed_alone(run):
    sub = run.subgroups
    assert list(sub["group"].unique()) == ["relapsing", "progressive"]
    rel = sub[sub["group"] == "relapsing"].drop(columns="group").reset_index(drop=True)
    pfs = rel[(rel["endpoint"] == "progression_free") & (rel["arm"] == "DMT")]
    assert set(pfs["n"]) == {10.0}
    # the whole cohort's table is unchanged by the subgroup analysis and has the same rows per group
    assert len(sub) == 2 * len(run.endpoints)
    both = run.all_endpoints
    assert set(both["group"]) == {"", "relapsing", "progressive"}
    whole = both[both["group"] == ""].drop(columns="group").reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, run.endpoints)
    # a subgroup row is what the same computation gives on that group's patients
    from remit.endpoints import Records

    mask = run.patients["group"] == "relapsing"
    ids = run.patients.loc[mask, "patient_id"]
    records = Records(run.patients[mask].reset_index(drop=True),
                      run.outcomes[run.outcomes["patient_id"].isin(ids)].reset_index(drop=True),
                      1.0, "DMT", run.spec.visit_years)
    pd.testing.assert_frame_equal(rel, compute_endpoints(records, run.spec.catalog))


def test_a_mapping_reads_a_groups_row(run):
    entry = MappingEntry.model_validate({
        "published": {"name": "PFS", "arm": "relapsing"},
        "simulated": {"endpoint": "progression_free", "arm": "treatment", "timepoint_years": 1.0, "group": "relapsing"}})
    arm, tp, est, lo, hi = simulated_value(entry, run.all_endpoints, run.spec)
    row = run.subgroups.query("group == 'relapsing' and arm == 'aHSCT' and endpoint == 'progression_free' "
                              "and timepoint_years == 1.0").iloc[0]
    assert (arm, tp, est, lo, hi) == ("aHSCT", 1.0, row["estimate"], row["ci_low"], row["ci_high"])
    whole = MappingEntry.model_validate({"published": entry.published.model_dump(),
                                         "simulated": {**entry.simulated.model_dump(), "group": None}})
    assert simulated_value(whole, run.all_endpoints, run.spec)[2] == run.endpoints.query(
        "arm == 'aHSCT' and endpoint == 'progression_free' and timepoint_years == 1.0")["estimate"].iloc[0]
    assert simulated_value(entry, run.endpoints, run.spec) is None  # no subgroup rows in a plain table


def test_mixed_cohort_does_not_depend_on_chunk_size(run, tmp_path):
    again = Trial(run.spec, "mixed.toml").run(out=tmp_path / "run", chunk_size=7)
    pd.testing.assert_frame_equal(again.patients.drop(columns="solver_retried", errors="ignore"),
                                  run.patients.drop(columns="solver_retried", errors="ignore"))
    pd.testing.assert_frame_equal(again.endpoints, run.endpoints)
    pd.testing.assert_frame_equal(again.subgroups, run.subgroups)
    written = pd.read_csv(tmp_path / "run" / "subgroups.csv")
    assert list(written.columns) == list(run.subgroups.columns) and len(written) == len(run.subgroups)
    assert 'id="subgroups"' in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")


def test_one_group_of_the_whole_cohort_changes_nothing():
    data = mixed(trial__patients_per_arm=12)
    plain = copy.deepcopy(data)
    plain["population"].pop("groups")
    data["population"]["groups"] = [{"name": "all", "fraction": 1.0}]
    a = Trial(parse_scenario(plain, "a.toml"), "a.toml").run(chunk_size=1000)
    b = Trial(parse_scenario(data, "b.toml"), "b.toml").run(chunk_size=1000)
    assert a.subgroups is None and "group" not in a.patients
    assert set(b.patients.pop("group")) == {"all"}
    pd.testing.assert_frame_equal(a.patients, b.patients)
    pd.testing.assert_frame_equal(a.endpoints, b.endpoints)
    pd.testing.assert_frame_equal(b.subgroups.drop(columns="group"), b.endpoints)


def test_the_mixed_course_example_runs_small(tmp_path):
    from remit.scenario import load_scenario

    spec = load_scenario("examples/ms_mixed_course.toml")
    assert [g.spec.population.course for g in spec.subpopulations] == ["relapsing_remitting", "secondary_progressive"]
    res = Trial(spec.with_overrides(patients_per_arm=10), "examples/ms_mixed_course.toml").run(chunk_size=1000)
    rows = res.subgroups[res.subgroups["arm"] == "aHSCT vs ocrelizumab"]
    for name in ("first_relapse_hazard_ratio", "new_lesion_rate_ratio"):
        assert set(rows.loc[rows["endpoint"] == name, "group"]) == {"relapsing", "secondary_progressive"}
    assert set(res.patients.groupby("group").size()) == {12, 8}
