"""Every registered unit meets its contract: parametrised over the registries, so a new disease or
therapy is tested the moment it registers (tests/toy_disease.py is one, registered here too).

- a disease builds its model, runs its example trial with finite, non-negative states and finite
  scores, gives identical results under the same seed, and exports to SBML without error;
- a therapy's example arm validates in every disease and plans sorted events inside follow-up;
- an endpoint kind, on the records of the first disease example that declares it, returns rows with
  the endpoint table's columns under the names it declares, a label for each, a figure, and a power
  analysis (effect and p).

Solvers are covered by tests/test_solvers.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import toy_disease
from remit.diseases import DISEASES, build_model, get_disease
from remit.endpoints import ENDPOINT_COLUMNS, ENDPOINT_KINDS, FigureView
from remit.scenario import parse_scenario
from remit.therapies import THERAPIES, arm_plan

DISEASE_IDS = (*DISEASES.ids(), toy_disease.NAME)


@pytest.fixture(autouse=True, scope="module")
def _toy_registered():
    toy_disease.register()
    yield
    toy_disease.unregister()


def _run(disease: str, tmp_path, chunk_size: int, visits: list[str] | None = None):
    from remit.trial import Trial

    scenario = get_disease(disease).example()
    if visits is not None:
        scenario["trial"]["visits"] = visits
    spec = parse_scenario(scenario, f"{disease} example")
    return Trial(spec).run(out=tmp_path, chunk_size=chunk_size)


# visits between those of an example's default schedule (sub-annual ones, 1 and 2 years)
EXTRA_VISITS = ["9w", "100d", "18m"]


@pytest.mark.parametrize("disease", DISEASE_IDS)
def test_disease_builds_its_model(disease):
    model = build_model(disease, calibrated=False)
    assert model.name == disease
    names = model.state_names + model.parameter_names
    assert len(set(names)) == len(names)
    for p in model.parameters:
        assert p.unit is not None and p.low <= p.value <= p.high and p.source, p.name


@pytest.mark.parametrize("disease", DISEASE_IDS)
def test_disease_example_runs_and_repeats(disease, tmp_path):
    a = _run(disease, tmp_path / "a", chunk_size=20)
    b = _run(disease, tmp_path / "b", chunk_size=7)
    pats = a.patients
    assert len(pats) == 40
    d = get_disease(disease)
    for score in d.scores:  # every score is measured at baseline, finite
        assert np.isfinite(a.outcome(score.name)[0.0].to_numpy(float)).all(), score.name
    for e in d.endpoints:  # every time to event is within follow-up (NaN: not in the endpoint's risk set)
        if hasattr(e, "time_col"):
            years = pats[e.time_col].to_numpy(float)
            years = years[~np.isnan(years)]
            assert ((years >= 0) & (years <= 2.0 + 1e-9)).all(), e.name
    ep = a.endpoints
    assert set(ep["endpoint"]) and np.isfinite(ep["estimate"].dropna()).all()
    # the same scenario and seed, another chunk size: the same numbers
    assert a.patients.equals(b.patients)
    assert a.outcomes.equals(b.outcomes)
    assert a.endpoints.equals(b.endpoints)


@pytest.mark.parametrize("disease", DISEASE_IDS)
def test_disease_reports_at_every_visit(disease, tmp_path):
    """Every score, proportion, time-to-event and mortality endpoint has a row at each visit of
    ``[trial] visits``; visits added between the default ones (and another chunk size) change no
    number at the visits both schedules have (but the slopes, fitted over all visits)."""
    a = _run(disease, tmp_path / "a", chunk_size=20)
    b = _run(disease, tmp_path / "b", chunk_size=7, visits=[*get_disease(disease).visits, "1y", "2y", *EXTRA_VISITS])
    visits = sorted(b.spec.visit_years)
    assert set(a.spec.visit_years) < set(visits) and len(visits) == len(a.spec.visit_years) + len(EXTRA_VISITS)
    ep = b.endpoints

    def at_every_visit(endpoint: str, expected: list[float]) -> None:
        """In every arm with rows of ``endpoint`` (an arm may have none: nobody at risk), one per visit."""
        rows = ep[ep["endpoint"] == endpoint]
        assert len(rows), endpoint
        for arm, d in rows.groupby("arm"):
            assert np.allclose(sorted(d["timepoint_years"]), expected), (endpoint, arm)

    for e in get_disease(disease).endpoints:
        if e.kind == "score":
            at_every_visit(f"mean_{e.name}", [0.0, *visits])
        elif e.kind == "proportion":
            at_every_visit(e.name, visits)
        elif e.kind == "survival":
            at_every_visit(f"{e.name}_free", visits)
    at_every_visit("all_cause_mortality", visits)
    at_every_visit("treatment_related_mortality", visits)  # day 100 is one of them
    assert a.patients.equals(b.patients)
    key = ["arm", "endpoint", "timepoint_years"]
    # a slope is fitted over the report visits: more visits, another slope
    fitted = {n for e in get_disease(disease).endpoints if e.kind == "slope" for n in e.names()}
    both = a.endpoints.merge(b.endpoints, on=key, suffixes=("", "_more"))
    both = both[~both["endpoint"].isin(fitted)]
    assert len(both) == (~a.endpoints["endpoint"].isin(fitted)).sum()
    for col in ("estimate", "ci_low", "ci_high", "n"):
        assert np.array_equal(both[col], both[f"{col}_more"], equal_nan=True), col


@pytest.mark.parametrize("disease", DISEASE_IDS)
def test_disease_states_stay_finite_and_non_negative(disease):
    from remit.engine.integrate import simulate
    from remit.population import draw_candidates
    from remit.trial import output_grid

    model = build_model(disease)
    spec = parse_scenario(get_disease(disease).example(), "example")
    _, P, y0 = draw_candidates(model, spec, np.arange(8))
    plan = arm_plan(model, spec.arms[0], get_disease(disease).drugs)
    traj = simulate(model, y0, P, plan.schedule, output_grid(365.25))
    ok = traj.status == 0
    assert ok.all()
    assert np.isfinite(traj.y).all()
    negative = [s.name for j, s in enumerate(model.states) if s.nonnegative and (traj.y[:, :, j] < -1e-9).any()]
    assert not negative


@pytest.mark.parametrize("disease", DISEASE_IDS)
def test_disease_exports_sbml(disease):
    import libsbml

    from remit.sbml import to_sbml

    doc = libsbml.readSBMLFromString(to_sbml(build_model(disease)))
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_FATAL) == 0


@pytest.mark.parametrize("therapy", THERAPIES.ids())
@pytest.mark.parametrize("disease", DISEASE_IDS)
def test_therapy_plans_sorted_events_in_every_disease(therapy, disease):
    d = get_disease(disease)
    model = build_model(disease)
    data = d.example()
    data["arms"] = [{"name": "X", **THERAPIES.get(therapy).example(d.drugs)}, data["arms"][1]]
    spec = parse_scenario(data, f"{therapy} in {disease}")
    arm = spec.arms[0]
    assert arm.therapy == therapy
    plan = arm_plan(model, arm, d.drugs)
    t = np.asarray(plan.schedule.t)
    horizon = spec.trial.follow_up_years * 365.25
    assert (np.diff(t) >= 0).all()
    assert ((t >= 0) & (t <= horizon)).all()
    assert 0.0 <= plan.organ_toxicity_death < 1.0
    assert math.isnan(plan.graft_day) or 0 < plan.graft_day < horizon


def _declaring(kind: str):
    """(disease, endpoint) of the first registered disease whose catalog has an endpoint of ``kind``
    (a composite, which scenarios declare: death, then the first disease's first score)."""
    if kind == "composite":
        from remit.endpoints import Composite

        d = get_disease(DISEASE_IDS[0])
        return DISEASE_IDS[0], Composite.declared("grc", None, (("death", 0.0), (d.scores[0].name, 0.0)), d)
    for d in DISEASE_IDS:
        for e in get_disease(d).endpoints:
            if e.kind == kind:
                return d, e
    return None, None


@pytest.mark.parametrize("kind", ENDPOINT_KINDS.ids())
def test_endpoint_kind_rows_labels_figure_and_power(kind, tmp_path):
    import plotly.graph_objects as go

    disease, e = _declaring(kind)
    if disease is None:
        pytest.skip(f"no registered disease declares a {kind} endpoint")
    assert isinstance(e, ENDPOINT_KINDS.get(kind))
    result = _run(disease, tmp_path, chunk_size=40)
    records = result.records
    rows = e.rows(records)
    assert rows and all(list(r) == ENDPOINT_COLUMNS for r in rows)
    names = {r["endpoint"] for r in rows}
    assert names <= set(e.names()) and all(e.labels()[n] for n in names)
    assert set(e.digits()) <= set(e.names()) and set(e.row_types()) <= set(e.names())
    assert e.title() and e.summary and e.test_name and e.effect_name
    fig = e.figure(FigureView(records, result.visits, result.endpoints, records.arms))
    assert isinstance(fig, go.Figure)
    control, arm = records.control_arm, records.comparisons[0]
    year = int(result.spec.trial.follow_up_years) if e.timed else None
    a0 = e.arm_data(records, records.arm(control), year)
    a1 = e.arm_data(records, records.arm(arm), year)
    assert all(len(v) == len(records.arm(control)) for v in a0.values())
    effect, p = e.analyse(a0, a1)
    assert math.isnan(p) or 0.0 <= p <= 1.0
