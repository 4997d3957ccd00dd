"""CD19 CAR-T: schema, protocol, and the stylized facts of the published autoimmune series.

The facts each test checks, and where they come from:
- B cells disappear from blood within days of the infusion and return within months (mean 110 +- 32 days
  in lupus: Mackensen et al. 2022 Nat Med 28:2124; gone within 7 days in systemic sclerosis: the Erlangen
  series, ACR Convergence 2023);
- cytokine release syndrome is common but mostly grade 1 in autoimmune disease, grade 3 or more absent
  in the first 15 patients (Muller et al. 2024 NEJM 390:687) and CRS severity rises with the CAR-T
  expansion (Hay et al. 2017 Blood 130:2295);
- anti-dsDNA seroconverts (Mackensen et al. 2022) while antibodies of long-lived CD19-negative plasma
  cells (vaccine titres) persist through B-cell aplasia (Bhoj et al. 2016 Nature 536:101);
- drug-free remission persists after B cells return (Mackensen et al. 2022);
- total IgG falls during aplasia by no more than the short-lived plasma cells' share (Bhoj et al. 2016).
"""

from __future__ import annotations

import copy
import tomllib

import numpy as np
import pytest

from remit.diseases import build_model, get_disease
from remit.engine.integrate import simulate
from remit.errors import ScenarioError
from remit.population import burn_in
from remit.report import plots
from remit.scenario import parse_scenario
from remit.therapies import arm_plan
from remit.therapies.car_t.observe import APLASIA_PER_UL, RETURN_PER_UL, grades, serum_igg
from remit.trial import Trial, output_grid, write_outputs

EXAMPLE = "examples/sle_car_t_vs_ahsct.toml"
YEAR = 365.25


def scenario(patients: int = 30, **arm) -> dict:
    with open(EXAMPLE, "rb") as f:
        s = tomllib.load(f)
    s["trial"]["patients_per_arm"] = patients
    s["arms"][0].update(arm)
    return s


@pytest.fixture(scope="module")
def cohort():
    """Burned-in lupus patients of the example's population, the paths of each of its arms and the burned-in
    chunk (its ``y`` the states at randomisation, its ``params`` the patients' parameter values, (n, P))."""
    spec = parse_scenario(scenario(), EXAMPLE)
    model = build_model("lupus")
    from remit.engine.integrate import SolverOptions

    chunk = burn_in(model, spec, np.arange(40), SolverOptions())
    grid = output_grid(2 * YEAR)
    paths = {arm.name: simulate(model, chunk.y, chunk.params, arm_plan(model, arm, get_disease("lupus").drugs).schedule,
                                grid) for arm in spec.arms}
    return spec, model, grid, paths, chunk


@pytest.fixture(scope="module")
def trial():
    return Trial(parse_scenario(scenario(40), EXAMPLE), EXAMPLE).run(write=False)


def test_b_cells_are_undetectable_within_days_and_return_within_months(cohort):
    spec, _, t, paths, _ = cohort
    day0 = spec.arms[0].infusion_day
    car = paths["CD19 CAR-T"]
    assert np.all(car.status == 0)
    b = car["b_cells"]
    after = t >= day0
    first_aplastic = np.argmax(b[:, after] < APLASIA_PER_UL, axis=1)
    aplastic = (b[:, after] < APLASIA_PER_UL).any(axis=1)
    assert aplastic.mean() >= 0.9
    assert np.median(t[after][first_aplastic[aplastic]] - day0) <= 7
    back = np.maximum.accumulate(b[:, after] < APLASIA_PER_UL, axis=1) & (b[:, after] >= RETURN_PER_UL)
    returned = back.any(axis=1)
    days = t[after][np.argmax(back, axis=1)][returned] - day0
    assert returned.mean() >= 0.9
    assert 60 <= days.mean() <= 180  # within months (published 110 +- 32 days)
    # standard care never makes the patients aplastic, and CAR-T's states stay exactly 0 without CAR-T
    care = paths["Standard care"]
    assert (care["b_cells"].min(axis=1) > RETURN_PER_UL).all()
    assert np.all(care["car_eff"] == 0) and np.all(care["car_mem"] == 0)


def test_autoantibody_falls_but_long_lived_plasma_cell_antibodies_persist(cohort):
    spec, model, t, paths, chunk = cohort
    params = chunk.params
    car, care = paths["CD19 CAR-T"], paths["Standard care"]
    six_months = np.searchsorted(t, spec.arms[0].infusion_day + 0.5 * YEAR)
    # the CD19+ share of the autoreactive plasma cells goes: anti-dsDNA falls by more than half
    assert np.median(car["autoab"][:, six_months] / car["autoab"][:, 0]) < 0.5
    assert np.median(care["autoab"][:, six_months] / care["autoab"][:, 0]) > 0.8
    # vaccine titres, made by CD19-negative long-lived plasma cells, stay within one twofold dilution step
    # (the resolution of titre serology) a year after the infusion, while in the anti-dsDNA-positive patients
    # (those whose seroconversion Mackensen et al. report) the autoantibody falls far more
    one_year = np.searchsorted(t, spec.arms[0].infusion_day + YEAR)
    kept = car["vaccine_ab"][:, one_year] / car["vaccine_ab"][:, 0]
    auto = car["autoab"][:, six_months] / car["autoab"][:, 0]
    dsdna_scale, cutoff = (params[:, model.parameter_index(name)] for name in ("dsdna_scale", "dsdna_cutoff"))
    positive = car["autoab"][:, 0] * dsdna_scale > cutoff
    assert kept.min() > 0.5
    assert positive.sum() >= 10
    assert np.all(kept[positive] > 2 * auto[positive])


def test_rituximab_leaves_tissue_b_cells_and_does_not_reset_lupus(cohort):
    """Rituximab empties blood but not lymph nodes of B cells, CD19 CAR-T both (Tur et al. 2024 Ann Rheum Dis,
    doi:10.1136/ard-2024-226142), and rituximab added to mycophenolate did not raise renal response in lupus
    nephritis (LUNAR, Rovin et al. 2012): only CAR-T collapses the autoreactive T cells."""
    spec, model, t, paths, chunk = cohort
    s = scenario()
    s["arms"] = [{"name": "Rituximab", "therapy": "conventional", "drugs": ["mycophenolate", "prednisone", "rituximab"]}]
    s["trial"]["control_arm"] = "Rituximab"
    arm = parse_scenario(s, EXAMPLE).arms[0]
    rtx = simulate(model, chunk.y, chunk.params, arm_plan(model, arm, get_disease("lupus").drugs).schedule, t)
    car, care = paths["CD19 CAR-T"], paths["Standard care"]
    one_year = np.searchsorted(t, YEAR)
    lowest = {name: {who: np.median(path[name][:, :one_year].min(axis=1)) for who, path in (("rtx", rtx), ("car", car))}
              for name in ("b_cells", "b_apc")}
    assert lowest["b_cells"]["rtx"] < 0.2 * np.median(care["b_cells"][:, 0])  # blood emptied by both
    assert lowest["b_cells"]["car"] < APLASIA_PER_UL
    assert lowest["b_apc"]["rtx"] > 0.2  # tissue B cells kept under rituximab
    assert lowest["b_apc"]["car"] < 0.05  # and gone after CAR-T
    kept = rtx["teff"][:, one_year] / care["teff"][:, one_year]
    reset = car["teff"][:, one_year] / care["teff"][:, one_year]
    assert np.median(kept) > 0.5 and np.median(reset) < 0.1


def test_serum_igg_falls_by_its_short_lived_share_during_aplasia_and_recovers(cohort):
    """Total IgG falls during B-cell aplasia by at most the share short-lived plasma cells make and comes back
    with the B cells; vaccine titres (the long-lived share) barely move (Bhoj et al. 2016 Nature 536:101)."""
    spec, model, t, paths, chunk = cohort
    p = {name: chunk.params[:, model.parameter_index(name)] for name in model.parameter_names}
    car, care = paths["CD19 CAR-T"], paths["Standard care"]
    igg = serum_igg(t, car["b_cells"], car["vaccine_ab"], p)
    igg_care = serum_igg(t, care["b_cells"], care["vaccine_ab"], p)
    base = igg[:, 0]
    assert np.allclose(igg_care[:, 0], base)
    nadir = igg.min(axis=1)
    assert np.all(nadir < 0.9 * base)  # a measurable fall in every patient
    assert np.all(nadir > p["igg_long_lived_share"] * 0.9 * base)  # but not below the long-lived share
    back = car["b_cells"][:, -1] >= car["b_cells"][:, 0]  # B cells back at their pre-treatment count (2 years)
    assert back.mean() >= 0.8
    assert np.all(igg[back, -1] > 0.9 * base[back])  # and IgG with them
    assert np.all(igg_care.min(axis=1) > 0.95 * base)  # maintenance therapy held steady: no fall


def test_crs_is_mostly_low_grade_and_rises_with_the_expansion(trial):
    p = trial.patients
    car = p[p["therapy"] == "car_t"]
    assert car["crs_grade"].ge(1).mean() >= 0.3  # common
    assert car["crs_grade"].ge(3).mean() <= 0.05  # rarely severe
    assert car["icans_grade"].le(car["crs_grade"] + 2).all()
    other = p[p["therapy"] != "car_t"]
    assert (other["crs_grade"] == 0).all() and (other["icans_grade"] == 0).all()
    assert other["b_cell_return_day"].isna().all()
    # grades: 0 below 0, one grade per step, capped at 4
    assert list(grades(np.array([-1.0, 0.1, 2.6, 5.1, 50.0]), np.full(5, 2.5))) == [0, 1, 2, 3, 4]


def test_remission_persists_after_b_cells_return(trial):
    """Drug-free remission was maintained after B cells reappeared in all 5 patients of Mackensen et al. 2022
    (Nat Med 28:2124, median follow-up 8 months); in lupus the model's autoreactive T cells need B cells as
    antigen-presenting cells (remit.diseases.lupus.model), so the CAR-T reset outlasts the aplasia."""
    p = trial.patients
    relapsed = np.isfinite(p["relapse_years"]) & (p["relapse_years"] <= p["follow_up_years"])
    responded = p["first_response_years"] <= 0.5
    car = p["therapy"] == "car_t"
    assert responded[car].mean() >= 0.5
    assert p.loc[car, "b_cell_return_day"].notna().mean() >= 0.9  # back within the 2 years
    assert relapsed[car & responded].mean() <= 0.15
    care = p["therapy"] == "conventional"
    assert relapsed[car & responded].mean() < relapsed[care & responded].mean() - 0.2


def test_the_report_shows_the_b_cell_return_of_the_car_t_arm(trial, tmp_path):
    fig = plots.b_cell_return_figure(trial.patients)
    assert [t.name for t in fig.data] == ["CD19 CAR-T"]  # the only arm whose B cells return after aplasia
    assert plots.b_cell_return_figure(trial.patients[trial.patients["therapy"] != "car_t"]) is None
    text = (write_outputs(trial, tmp_path / "run") / "report.html").read_text()
    assert '<section id="b_cells"><h2>B-cell return after CAR-T</h2>' in text and 'id="fig-b-cells"' in text


def test_the_endpoints_report_crs_icans_and_b_cell_return_for_every_arm(trial):
    e = trial.endpoints
    rows = e[e["endpoint"].isin(["crs_any_grade", "crs_grade_3_plus", "icans_any_grade", "b_cell_return_day_mean",
                                 "hypogammaglobulinaemia", "igg_nadir_mean"])]
    car = rows[rows["arm"] == "CD19 CAR-T"].set_index("endpoint")
    assert car.loc["crs_any_grade", "estimate"] > 0
    assert 0 <= car.loc["crs_any_grade", "ci_low"] <= car.loc["crs_any_grade", "estimate"] <= car.loc["crs_any_grade", "ci_high"]
    assert 30 < car.loc["b_cell_return_day_mean", "estimate"] < 300
    care = rows[(rows["arm"] == "Standard care") & (rows["endpoint"] == "crs_any_grade")]
    assert care["estimate"].tolist() == [0.0]
    # serum IgG is reported for every arm, lowest after CAR-T's B-cell aplasia
    nadir = rows[rows["endpoint"] == "igg_nadir_mean"].set_index("arm")["estimate"]
    assert set(nadir.index) == {arm.name for arm in trial.spec.arms}
    assert nadir["CD19 CAR-T"] < nadir["Standard care"]
    assert (rows[rows["endpoint"] == "hypogammaglobulinaemia"]["arm"].nunique()) == 3


def test_lymphodepletion_drives_the_expansion(cohort):
    """Fludarabine/cyclophosphamide lymphodepletion raises the CAR-T peak (Turtle et al. 2016 J Clin Invest 126:2123)."""
    spec, model, t, paths, _ = cohort
    none = parse_scenario(scenario(lymphodepletion={"fludarabine_mg_per_m2": 0, "cyclophosphamide_mg_per_m2": 0}), EXAMPLE)
    from remit.engine.integrate import SolverOptions

    chunk = burn_in(model, none, np.arange(40), SolverOptions())
    bare = simulate(model, chunk.y, chunk.params, arm_plan(model, none.arms[0], get_disease("lupus").drugs).schedule, t)
    with_ld = paths["CD19 CAR-T"]
    peak = lambda tr: (tr["car_eff"] + tr["car_mem"]).max(axis=1)  # noqa: E731
    assert np.median(peak(with_ld) / peak(bare)) > 1.2


def test_protocol_stops_immunosuppression_and_counts_the_infused():
    spec = parse_scenario(scenario(), EXAMPLE)
    plan = arm_plan(build_model("lupus"), spec.arms[0], get_disease("lupus").drugs)
    assert plan.protocol_day == spec.arms[0].infusion_day and plan.protocol.startswith("infused")
    labels = list(plan.schedule.labels)
    assert labels.count("fludarabine") == 3 * 9  # 3 days x (hsc, prog, 6 lymphocyte pools, thymus)
    assert "lymphodepletion cyclophosphamide" in labels and "DMT stop" in labels
    assert 0 < plan.organ_toxicity_death < 0.01


@pytest.mark.parametrize("field,value,words", [
    ("dose_cells_per_kg", 1e10, "dose_cells_per_kg"),
    ("target", "cd20", "target"),
    ("infusion_day", 2000, "infusion_day"),
    ("lymphodepletion", {"fludarabine_mg_per_m2": 500, "cyclophosphamide_mg_per_m2": 1000}, "fludarabine_mg_per_m2"),
])
def test_bad_arm_is_a_clear_error(field, value, words):
    s = scenario()
    s["arms"][0][field] = copy.deepcopy(value)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(s, EXAMPLE)
    assert words in str(err.value) and EXAMPLE in str(err.value)
