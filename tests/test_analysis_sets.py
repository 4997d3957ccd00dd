"""Analysis sets: intention to treat (every randomised patient) and per protocol (the patients alive when
their arm's protocol is complete), chosen per endpoint with ``[trial] per_protocol``."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from remit.diseases import build_model, get_disease
from remit.scenario import ScenarioError, parse_scenario
from remit.therapies import arm_plan
from remit.trial import Trial

SSC = get_disease("systemic_sclerosis")
MODEL = build_model("systemic_sclerosis")
CYC = {"name": "Cyclophosphamide", "therapy": "conventional", "drugs": ["cyclophosphamide_iv"]}


def ssc(**trial) -> dict:
    s = SSC.example()
    s["trial"].update({"patients_per_arm": 40, "follow_up_years": 2.0, **trial})
    s["arms"] = [a for a in s["arms"] if a["therapy"] == "ahsct"][:1] + [CYC]
    s["trial"]["control_arm"] = "Cyclophosphamide"
    return s


def plan_of(arm: dict, disease=SSC):
    spec = parse_scenario({**ssc(), "arms": [{**arm, "name": "Tested"}, CYC]})
    return arm_plan(MODEL, spec.arms[0], disease.drugs)


def test_each_therapy_defines_its_protocol():
    ahsct = plan_of(ssc()["arms"][0])
    assert (ahsct.protocol_day, ahsct.protocol) == (ahsct.graft_day, "transplanted (alive at the graft)")
    monthly = SSC.drugs["cyclophosphamide_iv"].pulse_days
    cyc = plan_of(CYC)
    assert len(monthly) == 12 and cyc.protocol_day == monthly[8]  # the 9th of 12 pulses
    assert cyc.protocol == "at least 9 of 12 cyclophosphamide_iv pulses"
    half = plan_of({**CYC, "stop_year": 0.5})  # the pulses given before the stop (day 182.6): 3/4 of them
    given = [d for d in monthly if d < 0.5 * 365.25]
    k = math.ceil(0.75 * len(given))
    assert half.protocol_day == given[k - 1] and f"{k} of {len(given)}" in half.protocol
    assert plan_of({**CYC, "drugs": ["mycophenolate"]}).protocol_day == 0.0
    msc = plan_of({"name": "MSC", "therapy": "msc", "source": "umbilical_cord", "route": "intravenous",
                   "dose_cells_per_kg": 1e6, "schedule": {"doses": 3, "interval_days": 7}})
    assert (msc.protocol_day, msc.protocol) == (14.0, "received every MSC dose")
    assert plan_of({"name": "Placebo", "therapy": "placebo"}).protocol_day == 0.0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("pp")
    itt = Trial(parse_scenario(ssc(), "itt.toml"), "itt.toml").run(chunk_size=1000)
    chosen = Trial(parse_scenario(ssc(per_protocol=["event", "mortality"]), "pp.toml"), "pp.toml").run(
        out=out / "run", chunk_size=1000)
    return itt, chosen, out / "run"


def test_per_protocol_replaces_only_the_chosen_endpoints(runs):
    itt, chosen, out = runs
    p = chosen.patients
    pd.testing.assert_frame_equal(itt.patients, p)  # the same trial; only the analysis differs
    # the per-protocol set: alive on the arm's protocol day
    day = {a: v["day"] for a, v in chosen.provenance["analysis_sets"]["per_protocol"].items()}
    died_before = p["died"] & (p["death_time_years"] * 365.25 <= p["arm"].map(day))
    assert (p["per_protocol"] == ~died_before).all()
    rows = {n for name in ("event",) for e in SSC.endpoints if e.name == name for n in e.names()}
    rows |= {"treatment_related_mortality", "all_cause_mortality"}
    same = ~itt.endpoints["endpoint"].isin(rows)
    pd.testing.assert_frame_equal(itt.endpoints[same], chosen.endpoints[same])
    pp = chosen.per_protocol
    mine = chosen.endpoints[~same].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, pp[pp["endpoint"].isin(rows)].reset_index(drop=True))
    n_pp = p.groupby("arm")["per_protocol"].sum()
    km = chosen.endpoints[chosen.endpoints["endpoint"] == "event_free"]
    assert (km["n"].to_numpy() == km["arm"].map(n_pp).to_numpy()).all()
    assert died_before.any(), "the test needs an early death to tell the sets apart"
    assert (chosen.endpoints.loc[~same, "estimate"].fillna(-1) != itt.endpoints.loc[~same, "estimate"].fillna(-1)).any()
    assert (out / "per_protocol.csv").exists()
    assert chosen.provenance["analysis_sets"]["per_protocol_endpoints"] == ["event", "mortality"]


def test_per_protocol_everywhere_is_the_per_protocol_table(runs):
    itt, chosen, _ = runs
    every = Trial(parse_scenario(ssc(per_protocol=True), "all.toml"), "all.toml").run(chunk_size=1000)
    pd.testing.assert_frame_equal(every.endpoints, every.per_protocol)
    assert itt.per_protocol is None and itt.provenance["analysis_sets"]["per_protocol_endpoints"] == []


@pytest.mark.parametrize("value, message", [
    (["evnt"], "trial.per_protocol[0] = 'evnt': must be one of event, death, organ_failure"),
    (["event", "event"], "trial.per_protocol[1] = 'event': is listed twice"),
    ([], "trial.per_protocol: must list between 1 and 64 endpoints"),
    ("yes", "trial.per_protocol"),
])
def test_bad_per_protocol_gets_one_line(value, message):
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(ssc(per_protocol=value), "s.toml")
    assert str(exc.value).startswith("s.toml: " + message), str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_misspelt_endpoint_gets_a_suggestion():
    with pytest.raises(ScenarioError, match=r"did you mean 'organ_failure'"):
        parse_scenario(ssc(per_protocol=["organ_failur"]), "s.toml")


def test_an_arm_without_per_protocol_patients_gives_unestimable_rows_not_a_crash(runs):
    from remit.endpoints import Records, per_protocol

    itt_run, chosen, _ = runs
    p = chosen.patients.copy()
    p.loc[p["arm"] == "Cyclophosphamide", "per_protocol"] = False  # as if every control patient died first
    records = Records(p, chosen.outcomes, 2.0, "Cyclophosphamide", chosen.spec.visit_years)
    itt = itt_run.endpoints
    event = [e for e in chosen.spec.catalog if e.name == "event"]
    pp, out = per_protocol(records, chosen.spec.catalog, event, itt)
    rows = out["endpoint"].isin(event[0].names())
    assert out.loc[rows, "estimate"].isna().all() and (out.loc[rows, "n"] == 0).all()
    pd.testing.assert_frame_equal(out[~rows], itt[~rows])
