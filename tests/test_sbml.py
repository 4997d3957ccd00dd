"""SBML export: valid SBML, the same equations, and the same trajectories in libRoadRunner.

Verification of the export (issue 4 item 6): the SBML written from a ModelSpec is loaded
into libRoadRunner, and virtual patients simulated there with CVODE at tight tolerances
(with and without an aHSCT protocol as SBML events) must agree with remit's own engine.

Agreement norm: for state ``j`` of patient ``i`` at every output time,
``|y_rr - y_remit| / max(|y_remit|, 1e-4 * max(1, |initial_j|))``, i.e. relative error
for states of meaningful magnitude and absolute error (scaled by the state's typical size)
for states that have decayed to almost nothing; the maximum over states, output times
and patients must be below ``AGREE``.
"""

import libsbml
import numpy as np
import pytest
import sympy as sp
from typer.testing import CliRunner

from remit.cli import app
from remit.diseases import get_disease
from remit.engine.integrate import SolverOptions, simulate
from remit.diseases import DISEASES, build_model
from remit.model.codegen import compile_model
from remit.model.core import core_module
from remit.model.spec import ModelSpec, Module, Parameter, State, compose
from remit.model.units import UnitError, parse
from remit.population import burn_in
from remit.sbml import RoadRunnerPatients, SBMLExportError, formula, to_sbml, validate
from remit.scenario import load_scenario
from remit.therapies import THERAPIES, arm_plan
from remit.therapies.schedule import ScheduleBuilder

MIST = "tests/scenarios/mist_like.toml"
# patients of each disease come from a scenario of that disease (burned in from onset to enrolment)
SCENARIOS = {
    "multiple_sclerosis": MIST,
    "systemic_sclerosis": "examples/ssc_astis.toml",
    "rheumatoid_arthritis": "examples/ra_cx611.toml",
    "lupus": "examples/sle_msc_wang2014.toml",
    "crohns_disease": "examples/cd_astic.toml",
    "type1_diabetes": "examples/t1d_voltarelli.toml",
}
N_PATIENTS = 3
CAR_T_DISEASES = ("lupus", "systemic_sclerosis")  # where remit offers CAR-T (remit predict)
T_OUT = np.linspace(0.0, 2 * 365.25, 25)  # two years, every month
TIGHT = SolverOptions(rtol=1e-10, atol_scale=1e-13, max_steps=5_000_000)
AGREE = 1e-5
FLOOR = 1e-4


def _buildable(disease):
    try:
        build_model(disease)
    except Exception:  # a disease module still in progress elsewhere
        return False
    return True


BUILDABLE = [d for d in DISEASES if _buildable(d)]


def test_multiple_sclerosis_builds():
    assert "multiple_sclerosis" in BUILDABLE


@pytest.mark.parametrize("disease", BUILDABLE)
def test_export_is_valid_sbml_l3v2_with_every_symbol(disease):
    model = build_model(disease)
    schedule = arm_plan(model, load_scenario(MIST).arms[0], get_disease("multiple_sclerosis").drugs).schedule
    text = to_sbml(model, schedule)
    findings = validate(text)
    assert not [m for sev, m in findings if sev == "error"]
    doc = libsbml.readSBMLFromString(text)
    m = doc.getModel()
    assert (doc.getLevel(), doc.getVersion()) == (3, 2)
    assert m.getNumSpecies() == 0 and m.getNumReactions() == 0
    assert m.getNumRules() == len(model.states) + len(model.observables)
    for s in model.states:
        assert m.getRateRuleByVariable(s.name) is not None, s.name
        assert not m.getParameter(s.name).getConstant()
    for p in model.parameters:
        q = m.getParameter(p.name)
        assert q is not None and q.getValue() == pytest.approx(p.value, rel=1e-14), p.name  # libsbml writes 15 digits
        ann = q.getAnnotationString()
        assert "remit:parameter" in ann and repr(p.low) in ann and repr(p.high) in ann, p.name
        assert p.source.split()[0] in q.getNotesString(), p.name
    assert m.getParameter("gcsf").getConstant() is False  # set by the protocol
    assert m.getNumEvents() == len(set(schedule.t))  # one event per distinct time


@pytest.mark.parametrize("disease", BUILDABLE)
def test_roadrunner_rates_equal_the_compiled_rhs(disease):
    """The exported rate rules are the model's rhs: roadrunner's rates match to rounding."""
    model = build_model(disease)
    k = compile_model(model)
    rr = RoadRunnerPatients(to_sbml(model), model.state_names, model.parameter_names)
    rng = np.random.default_rng(3)
    for _ in range(3):
        y = np.array([max(s.initial, 0.1) for s in model.states]) * rng.uniform(0.5, 1.5, len(model.states))
        p = np.array([q.value for q in model.parameters]) * rng.uniform(0.9, 1.1, len(model.parameters))
        rr.load_patient(y, p)  # no events: the values as set
        rates = rr.rr.getRatesOfChangeNamedArray()
        got = dict(zip([c.strip("'") for c in rates.colnames], np.asarray(rates)[0]))
        dy = np.zeros_like(y)
        k.rhs(y, p, dy)
        np.testing.assert_allclose([got[n] for n in model.state_names], dy, rtol=1e-12, atol=1e-12 * np.abs(dy).max())


def _agreement(model, y0, params, schedule):
    rr = RoadRunnerPatients(to_sbml(model, schedule), model.state_names, model.parameter_names, rtol=1e-10, atol=1e-12)
    ref = simulate(model, y0, params, schedule, T_OUT, TIGHT)
    assert np.all(ref.status == 0)
    floor = FLOOR * np.array([max(1.0, abs(s.initial)) for s in model.states])
    worst, final = 0.0, 0.0
    for i in range(y0.shape[0]):
        y_rr = rr.simulate(y0[i], params[i], T_OUT)
        assert np.all(np.isfinite(y_rr))
        err = np.abs(y_rr - ref.y[i]) / np.maximum(np.abs(ref.y[i]), floor)
        worst = max(worst, float(err.max()))
        final = max(final, float(err[-1].max()))
    return worst, final


@pytest.mark.parametrize("disease", BUILDABLE)
def test_roadrunner_agrees_with_remit_engine(disease):
    """Burned-in patients over 2 years: no protocol, the MIST-like aHSCT protocol, and the disease scenario's first arm."""
    spec = load_scenario(SCENARIOS[disease])
    assert spec.trial.disease == disease
    model = build_model(disease)
    cohort = burn_in(model, spec, np.arange(N_PATIENTS), SolverOptions())
    ok = cohort.status == 0
    assert ok.any()
    y0, params = cohort.y[ok], cohort.params[ok]
    schedules = {"none": ScheduleBuilder(model).build(), "MIST-like aHSCT": arm_plan(model, load_scenario(MIST).arms[0], get_disease("multiple_sclerosis").drugs).schedule}
    first = spec.arms[0]
    if disease != "multiple_sclerosis":
        schedules[f"{first.name} ({first.therapy})"] = arm_plan(model, first, get_disease(disease).drugs).schedule
    if disease in CAR_T_DISEASES:  # the CAR-T module's expansion, contraction and killing, after lymphodepletion
        car_t = THERAPIES.get("car_t")
        arm = car_t.arm_model(name="CAR-T", **car_t.example(get_disease(disease).drugs))
        schedules["CD19 CAR-T"] = arm_plan(model, arm, get_disease(disease).drugs).schedule
    report = {}
    for name, schedule in schedules.items():
        report[name] = _agreement(model, y0, params, schedule)
    print(f"\n{disease}: max error over output times / at 2 years: "
          + "; ".join(f"{k} {w:.1e} / {f:.1e}" for k, (w, f) in report.items()))
    for name, (worst, _) in report.items():
        assert worst < AGREE, (disease, name, worst)


def test_simultaneous_events_are_composed_in_order():
    """Same-time events apply in sequence, as in the engine: set a scale, dose with it, then kill."""
    m = ModelSpec("toy", (State("x", "1", "x", 1.0),), (Parameter("k", 0.5, "1/day", 0.0, 10.0, "test parameter of a toy"),
                                                        Parameter("s", 1.0, "1", 0.0, 10.0, "test parameter of a toy")),
                  (-sp.Symbol("k") * sp.Symbol("x"),))
    b = ScheduleBuilder(m)
    b.set(10, "s", 3.0).dose(10, "x", 2.0, per="s").kill(10, "x", 0.5, sensitivity="s").dose(10, "x", 1.0).dose(0, "x", 4.0)
    sched = b.build()
    text = to_sbml(m, sched)
    doc = libsbml.readSBMLFromString(text)
    assert doc.getModel().getNumEvents() == 2
    rr = RoadRunnerPatients(text, ["x"], ["k", "s"], rtol=1e-12, atol=1e-14)
    t = np.array([0.0, 5.0, 10.0, 20.0])
    y_rr = rr.simulate(np.array([1.0]), np.array([0.5, 1.0]), t)[:, 0]
    ref = simulate(m, np.array([[1.0]]), np.array([[0.5, 1.0]]), sched, t, TIGHT).y[0, :, 0]
    x10 = 5.0 * np.exp(-5.0)
    expect10 = (x10 + 2.0 * 3.0) * np.exp(-0.5 * 3.0) + 1.0
    np.testing.assert_allclose(ref[2], expect10, rtol=1e-9)
    np.testing.assert_allclose(y_rr, ref, rtol=1e-8)


def test_formula_printing():
    x, y = sp.symbols("x y")
    assert formula(sp.Rational(1, 3) * x) == f"({repr(1 / 3)} * x)"
    assert formula(x ** -2) == "(1 / (x ^ 2))"
    assert formula(y / x ** 2) == "(y / ((x ^ 2)))"
    assert formula(sp.exp(-x) / (x + y)) == "(exp(((-1) * x)) / ((x + y)))"
    assert formula(x ** sp.Float(0.7)) == "(x ^ 0.7)"
    assert formula(sp.Piecewise((x, x > 1), (y, True))) == "piecewise(x, (x > 1), y)"
    with pytest.raises(SBMLExportError):
        formula(sp.sin(x))


def test_events_before_time_zero_fold_parameter_settings():
    m = build_model("multiple_sclerosis")
    sched = ScheduleBuilder(m).set(-100, "gcsf", 1.0).dose(-100, "cy", 10.0).build()
    doc = libsbml.readSBMLFromString(to_sbml(m, sched))
    assert doc.getModel().getNumEvents() == 0
    assert doc.getModel().getParameter("gcsf").getValue() == 1.0
    assert doc.getModel().getParameter("cy").getValue() == 0.0


def test_cli_export_sbml(tmp_path):
    out = tmp_path / "ms.xml"
    res = CliRunner().invoke(app, ["export-sbml", "--disease", "multiple_sclerosis", str(out)])
    assert res.exit_code == 0, res.output
    assert not [m for s, m in validate(out.read_text()) if s == "error"]
    assert "<event " not in out.read_text()
    arm = tmp_path / "ahsct.xml"
    res = CliRunner().invoke(app, ["export-sbml", "--scenario", MIST, "--arm", "aHSCT", str(arm)])
    assert res.exit_code == 0, res.output
    assert "<event " in arm.read_text()
    res = CliRunner().invoke(app, ["export-sbml", "--disease", "influenza", str(tmp_path / "x.xml")])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.strip().splitlines() if ln]
    assert len(lines) == 1 and "unknown disease 'influenza'" in lines[0]
    res = CliRunner().invoke(app, ["export-sbml", "--scenario", MIST, "--arm", "nope", str(tmp_path / "x.xml")])
    assert res.exit_code == 2 and "no arm 'nope'" in res.output


# ----------------------------------------------------------------------------- units
def _findings(text):
    """libsbml's full consistency check, unit consistency included: (severity, category, message)."""
    doc = libsbml.readSBMLFromString(text)
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, True)
    doc.checkConsistency()
    return [(doc.getError(i).getSeverity(), doc.getError(i).getCategory(), doc.getError(i).getMessage().strip())
            for i in range(doc.getNumErrors())]


@pytest.mark.parametrize("disease", BUILDABLE)
def test_full_consistency_check_with_units_finds_no_error_and_no_unit_warning(disease):
    """Model and an aHSCT protocol's events: libsbml's check with unit checking on is clean."""
    model = build_model(disease)
    text = to_sbml(model, arm_plan(model, load_scenario(MIST).arms[0], get_disease("multiple_sclerosis").drugs).schedule)
    findings = _findings(text)
    assert not [m for sev, _, m in findings if sev >= libsbml.LIBSBML_SEV_ERROR]
    assert not [m for _, cat, m in findings if cat == libsbml.LIBSBML_CAT_UNITS_CONSISTENCY]
    assert 'sbml:units="' in text  # literals carry units (a bare number would leave the check undetermined)


def test_unit_check_is_live():
    """A wrong unit in the exported file is reported: the clean check above is not vacuous."""
    doc = libsbml.readSBMLFromString(to_sbml(build_model("lupus")))
    doc.getModel().getParameter("k_cy").setUnits("u_mg_per_kg")  # an elimination rate in mg/kg
    units = [m for _, cat, m in _findings(libsbml.writeSBMLToString(doc)) if cat == libsbml.LIBSBML_CAT_UNITS_CONSISTENCY]
    assert len(units) == 1 and "rateRule" in units[0]


@pytest.mark.parametrize("disease", BUILDABLE)
def test_every_state_parameter_and_observable_declares_its_unit(disease):
    model = build_model(disease)
    m = libsbml.readSBMLFromString(to_sbml(model)).getModel()
    assert libsbml.UnitDefinition.printUnits(m.getUnitDefinition(m.getTimeUnits()), True) == "(86400 second)^1"
    for x in list(model.states) + list(model.parameters):
        uid = m.getParameter(x.name).getUnits()
        assert uid, x.name
        if x.unit == "1":
            assert uid == "dimensionless", x.name
        else:
            ud = m.getUnitDefinition(uid)
            assert ud.getName() == x.unit, x.name
            factor = np.prod([(u.getMultiplier() * 10.0 ** u.getScale()) ** u.getExponent() for u in ud.getListOfUnits()])
            assert factor == pytest.approx(parse(x.unit).factor, rel=1e-12), x.name
    for name, _ in model.observables:
        assert m.getParameter(name).isSetUnits(), name
    assert m.getUnitDefinition(m.getParameter("cd4").getUnits()).getName() == "cells/uL"


def test_unit_grammar_and_sizes():
    assert parse("cells/uL").same(parse("1e6 cells/L"))
    assert parse("(ug/mL)/(mg/kg)").same(parse("kg/L"))
    assert parse("(g/day)/(g/day)").same(parse("1"))
    assert parse("1/year").factor == pytest.approx(1 / (365.25 * 86400))
    assert parse("%").factor == pytest.approx(0.01) and parse("FVC % predicted").same(parse("%"))
    assert parse("EDSS points/lesion").same(parse("EDSS point/lesions"))
    assert not parse("EDSS points").same(parse("lesions"))  # clinical scales are dimensions of their own
    assert not parse("1/day").same(parse("1/year"))
    assert str(parse("cells/uL/day")) == "cell/uL/day"
    for bad, why in (("furlongs/day", "unknown word 'furlongs'"), ("(mg/kg", "unbalanced"), ("0 cells", "not a positive")):
        with pytest.raises(UnitError, match=why) as exc:
            parse(bad)
        assert repr(bad) in str(exc.value) and "\n" not in str(exc.value)


def _toy(rate, x_unit="cells/uL", k_unit="1/day"):
    return ModelSpec("toy", (State("x", x_unit, "x", 1.0),),
                     (Parameter("k", 0.5, k_unit, 0.0, 10.0, "test parameter of a toy"),), (rate,))


def test_literals_take_the_unit_their_context_requires():
    """x' = -k (x - 5) + 1/day: the 5 is 5 cells/uL; the sum needs the 1 to be cells/uL/day."""
    x, k = sp.symbols("x k")
    text = to_sbml(_toy(-k * (x - 5) + 1))
    m = libsbml.readSBMLFromString(text).getModel()
    rule = libsbml.formulaToL3String(m.getRateRuleByVariable("x").getMath())
    assert "1 u_cell_per_uL_per_day" in rule and "-5 u_cells_per_uL" in rule, rule
    assert not _findings(text)


def test_inconsistent_units_are_refused_with_the_rule_and_the_units():
    x, k = sp.symbols("x k")
    with pytest.raises(SBMLExportError, match=r"rate of x: units do not match .*cell/uL") as exc:
        to_sbml(_toy(-k * x, k_unit="mg/kg"))
    assert "\n" not in str(exc.value)
    with pytest.raises(SBMLExportError, match="state x: unit 'furlongs'"):
        to_sbml(_toy(-k * x, x_unit="furlongs"))


def test_a_disease_gives_core_states_its_units():
    """Lupus nephritis is measured as proteinuria: the core's target-organ states are in g/day there."""
    lupus = build_model("lupus")
    assert {n: lupus.states[lupus.state_index(n)].unit for n in ("drev", "dirr", "cum_attack")} == dict.fromkeys(
        ("drev", "dirr", "cum_attack"), "g/day")
    ms = build_model("multiple_sclerosis")
    assert ms.states[ms.state_index("drev")].unit == "lesions" and ms.states[ms.state_index("dirr")].unit == "EDSS points"
    core = core_module()
    with pytest.raises(ValueError, match="unit given for undeclared state nope"):
        compose("x", [core, Module("bad", state_units={"nope": "g/day"})])
