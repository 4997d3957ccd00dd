"""Tests for remit.scenario: TOML scenario -> TrialSpec, one-line errors."""

import math
import pickle
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from remit.errors import ScenarioError as ErrorsScenarioError
from remit.diseases import get_disease
from remit.scenario import ScenarioError, load_scenario, parse_scenario
from remit.therapies.ahsct.schema import GRAFT_SOURCES, REGIMENS, AhsctArm, CyAtg
from remit.therapies.conventional import ConventionalArm
from remit.schema.types import Distribution

EXAMPLE_FILE = Path(__file__).parent / "scenarios" / "mist_like.toml"
EXAMPLE = EXAMPLE_FILE.read_text(encoding="utf-8")

MINIMAL = """\
[trial]
name = "tiny"
disease = "multiple_sclerosis"
seed = 1
follow_up_years = 5
patients_per_arm = 10

[[arms]]
name = "DMT"
therapy = "conventional"
drugs = ["fingolimod"]
"""


def write(tmp_path: Path, text: str | bytes, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def edit(old: str, new: str, base: str = EXAMPLE) -> str:
    assert old in base, f"test bug: {old!r} not in scenario"
    return base.replace(old, new, 1)


def error_of(tmp_path: Path, text: str | bytes) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(str(tmp_path / "scenario.toml") + ": ")
    return message


# ---------------------------------------------------------------- valid input


def test_example_parses() -> None:
    spec = load_scenario(EXAMPLE_FILE)
    assert spec.arm_names == ("aHSCT", "DMT")
    assert spec.trial.seed == 2019 and spec.trial.follow_up_years == 5
    assert spec.control.name == "DMT" and spec.trial.control_arm == "DMT"
    ahsct = spec.arms[0]
    assert isinstance(ahsct, AhsctArm) and isinstance(ahsct.conditioning, CyAtg)
    assert ahsct.conditioning.atg_mg_per_kg == 6.0
    assert ahsct.graft.cd34_per_kg == 5.0e6
    assert ahsct.conditioning.doses() == {"cyclophosphamide_mg_per_kg": 200.0, "atg_mg_per_kg": 6.0}
    assert isinstance(spec.arms[1], ConventionalArm)
    assert spec.arms[1].drugs == ("natalizumab",)
    assert spec.population.prior_dmt == ("interferon_beta",)


def test_round_trip_is_equal() -> None:
    spec = load_scenario(EXAMPLE_FILE)
    again = parse_scenario(tomllib.loads(spec.to_toml()))
    assert again == spec
    assert again.to_toml() == spec.to_toml()


def test_round_trip_through_file(tmp_path: Path) -> None:
    spec = load_scenario(write(tmp_path, MINIMAL))
    assert load_scenario(write(tmp_path, spec.to_toml(), "resolved.toml")) == spec


def test_defaults_are_filled_in() -> None:
    spec = parse_scenario(tomllib.loads(MINIMAL))
    pop = spec.population
    assert (pop.age.mean, pop.age.sd, pop.age.min, pop.age.max) == (36, 9, 18, 65)
    assert (pop.edss.mean, pop.edss.sd, pop.edss.min, pop.edss.max) == (3.0, 1.5, 0, 9.5)
    dd = pop.disease_duration_years
    assert (dd.mean, dd.sd, dd.min, dd.max) == (6, 4, 0.5, 30)
    assert (pop.relapses_prior_year.min, pop.relapses_prior_year.max) == (0, 20)
    assert pop.course == "relapsing_remitting"
    assert pop.female_fraction == 0.7 and pop.prior_dmt == ()
    resolved = tomllib.loads(spec.to_toml())
    assert resolved["population"]["age"] == {"mean": 36.0, "sd": 9.0, "min": 18.0, "max": 65.0}
    assert resolved["trial"]["control_arm"] == "DMT"


def test_partial_block_takes_missing_keys_from_defaults() -> None:
    spec = load_scenario(EXAMPLE_FILE)
    dd = spec.population.disease_duration_years
    assert (dd.mean, dd.sd, dd.min, dd.max) == (6, 4, 0.5, 10)
    assert spec.population.relapses_prior_year.min == 2
    assert spec.population.relapses_prior_year.max == 20


def test_named_regimen_without_doses_means_its_standard_protocol() -> None:
    """conditioning = { regimen = "beam_atg" } is the standard BEAM-ATG protocol; a dose given overrides its
    entry; the resolved scenario lists every dose; a bad dose is still refused with its range."""
    from remit.therapies.ahsct.schema import STANDARD_CONDITIONING

    data = tomllib.loads(EXAMPLE)
    for regimen, doses in STANDARD_CONDITIONING.items():
        data["arms"][0]["conditioning"] = {"regimen": regimen}
        spec = parse_scenario(data, "named.toml")
        assert spec.arms[0].conditioning.doses() == doses
        assert f'regimen = "{regimen}"' in spec.to_toml() and all(k in spec.to_toml() for k in doses)
    data["arms"][0]["conditioning"] = {"regimen": "cy_atg", "atg_mg_per_kg": 7.5}
    assert parse_scenario(data).arms[0].conditioning.doses() == {"cyclophosphamide_mg_per_kg": 200.0, "atg_mg_per_kg": 7.5}
    data["arms"][0]["conditioning"] = {"regimen": "bu_cy_atg", "busulfan_mg_per_kg": 30.0}
    with pytest.raises(ScenarioError, match=r"conditioning.busulfan_mg_per_kg = 30.0: must be between 0 and 20 mg/kg"):
        parse_scenario(data, "named.toml")
    # horse ATG replaces the standard rabbit ATG unless a rabbit dose is given too
    data["arms"][0]["conditioning"] = {"regimen": "cy_atg", "equine_atg_mg_per_kg": 90.0, "rituximab_mg": 1000.0}
    assert parse_scenario(data).arms[0].conditioning.doses() == {
        "cyclophosphamide_mg_per_kg": 200.0, "atg_mg_per_kg": 0.0, "equine_atg_mg_per_kg": 90.0, "rituximab_mg": 1000.0}
    data["arms"][0]["conditioning"] = {"regimen": "cy_atg", "equine_atg_mg_per_kg": 90.0, "atg_mg_per_kg": 2.0}
    assert parse_scenario(data).arms[0].conditioning.doses()["atg_mg_per_kg"] == 2.0


def test_defaults_yield_to_given_values() -> None:
    data = tomllib.loads(MINIMAL)
    data["population"] = {"age": {"min": 70, "max": 90}, "edss": {"mean": 0.2}}
    pop = parse_scenario(data).population
    assert (pop.age.min, pop.age.max, pop.age.mean) == (70, 90, 80)  # defaulted mean -> midpoint
    assert pop.edss.min == 0 and pop.edss.mean == 0.2


def test_distribution_bounds() -> None:
    spec = load_scenario(EXAMPLE_FILE)
    assert spec.population.edss.bounds() == (2.0, 6.0)
    assert Distribution(mean=1.0).bounds() == (-math.inf, math.inf)


def test_control_arm_defaults() -> None:
    data = tomllib.loads(EXAMPLE)
    data["arms"].append({"name": "DMT 2", "therapy": "conventional", "drugs": ["glatiramer"]})
    assert parse_scenario(data).control.name == "DMT 2"  # last conventional arm
    data["arms"] = [data["arms"][0]]
    assert parse_scenario(data).control.name == "aHSCT"  # no conventional arm: last arm


def test_control_arm_explicit_is_case_insensitive() -> None:
    spec = parse_scenario(tomllib.loads(edit("seed = 2019", 'seed = 2019\ncontrol_arm = "ahsct"')))
    assert spec.trial.control_arm == "aHSCT" and spec.control is spec.arms[0]


def test_all_regimens_parse() -> None:
    regimens = {
        "beam_atg": dict(carmustine_mg_per_m2=300, etoposide_mg_per_m2=800,
                         cytarabine_mg_per_m2=1600, melphalan_mg_per_m2=140, atg_mg_per_kg=5),
        "bu_cy_atg": dict(busulfan_mg_per_kg=16, cyclophosphamide_mg_per_kg=120, atg_mg_per_kg=7.5),
        "tbi_cy_atg": dict(tbi_gy=8, cyclophosphamide_mg_per_kg=120, atg_mg_per_kg=6),
        "cy_atg": dict(cyclophosphamide_mg_per_kg=200, atg_mg_per_kg=6),
    }
    assert set(regimens) == set(REGIMENS)
    for regimen, doses in regimens.items():
        data = tomllib.loads(EXAMPLE)
        data["arms"][0]["conditioning"] = {"regimen": regimen, **doses}
        spec = parse_scenario(data)
        assert spec.arms[0].conditioning.regimen == regimen
        assert parse_scenario(tomllib.loads(spec.to_toml())) == spec


def test_with_overrides_returns_validated_copy() -> None:
    spec = load_scenario(EXAMPLE_FILE)
    other = spec.with_overrides(patients_per_arm=50, seed=7)
    assert (other.trial.patients_per_arm, other.trial.seed) == (50, 7)
    assert spec.trial.patients_per_arm == 2000  # original untouched
    assert other.arms == spec.arms and other.population == spec.population
    assert spec.with_overrides() == spec
    with pytest.raises(ScenarioError, match=r"trial\.patients_per_arm = 0: must be between 1 and"):
        spec.with_overrides(patients_per_arm=0)


def test_with_overrides_accepts_numpy_integers() -> None:
    np = pytest.importorskip("numpy")
    spec = load_scenario(EXAMPLE_FILE).with_overrides(seed=np.int64(5), patients_per_arm=np.int32(3))
    assert spec.trial.seed == 5 and type(spec.trial.seed) is int
    assert spec.trial.patients_per_arm == 3


def test_models_are_frozen() -> None:
    spec = load_scenario(EXAMPLE_FILE)
    with pytest.raises(ValidationError):
        spec.trial.seed = 3  # type: ignore[misc]


def test_constants() -> None:
    assert len(get_disease("multiple_sclerosis").drugs) == 8
    assert REGIMENS == ("cy_atg", "beam_atg", "bu_cy_atg", "tbi_cy_atg")
    assert GRAFT_SOURCES == ("bone_marrow", "peripheral_blood", "cord_blood")
    assert ScenarioError is ErrorsScenarioError


def test_int_accepted_for_float_fields() -> None:
    spec = parse_scenario(tomllib.loads(edit("atg_mg_per_kg = 6.0", "atg_mg_per_kg = 6")))
    assert spec.arms[0].conditioning.atg_mg_per_kg == 6.0


def test_stop_year_before_follow_up_end_is_fine() -> None:
    spec = parse_scenario(tomllib.loads(edit('drugs = ["natalizumab"]',
                                             'drugs = ["natalizumab"]\nstop_year = 2.5')))
    assert spec.arms[1].stop_year == 2.5


# ---------------------------------------------------------- malformed input

# (id, scenario text, substrings the one-line message must contain)
MALFORMED: list[tuple[str, str, list[str]]] = [
    ("unknown top-level key", "colour = 1\n" + EXAMPLE,
     [": colour: unknown key (allowed: trial, population, arms, model, composites)"]),
    ("unknown nested key", edit("female_fraction = 0.7", 'female_fraction = 0.7\ncolour = "red"'),
     [": population.colour: unknown key (allowed: age, disease_duration_years, female_fraction, edss, relapses_prior_year"]),
    ("unknown key in arm", edit('drugs = ["natalizumab"]', 'drugs = ["natalizumab"]\ndrug = "x"'),
     [": arms[1].drug: unknown key (allowed: name, therapy, drugs, stop_year, pulses); did you mean 'drugs'?"]),
    ("unknown key in regimen", edit("atg_mg_per_kg = 6.0", "atg_mg_per_kg = 6.0, busulfan_mg_per_kg = 1"),
     [": arms[0].conditioning.busulfan_mg_per_kg: unknown key",
      "methylprednisolone_mg, regimen, cyclophosphamide_mg_per_kg, atg_mg_per_kg)"]),
    ("string seed", edit("seed = 2019", 'seed = "2019"'),
     [": trial.seed: expected an integer, got string '2019'",
      "must be between 0 and 9223372036854775807"]),
    ("float patients", edit("patients_per_arm = 2000", "patients_per_arm = 2000.0"),
     [": trial.patients_per_arm: expected an integer, got float 2000.0",
      "between 1 and 10000000 patients"]),
    ("bool as number", edit("atg_mg_per_kg = 6.0", "atg_mg_per_kg = true"),
     [": arms[0].conditioning.atg_mg_per_kg: expected a number, got boolean true",
      "between 0 and 15 mg/kg"]),
    ("string as bool", edit("g_csf = true", 'g_csf = "yes"'),
     [": arms[0].mobilization.g_csf: expected true or false, got string 'yes'"]),
    ("missing seed", edit("seed = 2019\n", ""), [": trial.seed: missing required field"]),
    ("missing graft source", edit('source = "peripheral_blood", ', ""),
     [": arms[0].graft.source: missing required field"]),
    ("missing trial table", MINIMAL.replace("[trial]", "[trail]"),
     [": trail: unknown key (allowed: trial, population, arms, model, composites); did you mean 'trial'?"]),
    ("atg 40", edit("atg_mg_per_kg = 6.0", "atg_mg_per_kg = 40.0"),
     [": arms[0].conditioning.atg_mg_per_kg = 40.0: must be between 0 and 15 mg/kg"]),
    ("negative cd34", edit("cd34_per_kg = 5.0e6", "cd34_per_kg = -5.0e6"),
     [": arms[0].graft.cd34_per_kg = -5000000.0: must be between 10000 and 1e8 CD34+ cells/kg"]),
    ("mobilisation cy too high", edit("cyclophosphamide_g_per_m2 = 2.0", "cyclophosphamide_g_per_m2 = 7.5"),
     [": arms[0].mobilization.cyclophosphamide_g_per_m2 = 7.5: must be between 0 and 7 g/m2"]),
    ("follow-up 0", edit("follow_up_years = 5", "follow_up_years = 0"),
     [": trial.follow_up_years = 0: must be between 0 (exclusive) and 30 years"]),
    ("follow-up 200", edit("follow_up_years = 5", "follow_up_years = 200"),
     [": trial.follow_up_years = 200: must be between 0 (exclusive) and 30 years"]),
    ("follow-up nan", edit("follow_up_years = 5", "follow_up_years = nan"),
     [": trial.follow_up_years = nan: must be between 0 (exclusive) and 30 years"]),
    ("patients 0", edit("patients_per_arm = 2000", "patients_per_arm = 0"),
     [": trial.patients_per_arm = 0: must be between 1 and 10000000 patients"]),
    ("patients 1e9", edit("patients_per_arm = 2000", "patients_per_arm = 1_000_000_000"),
     [": trial.patients_per_arm = 1000000000: must be between 1 and 10000000 patients"]),
    ("negative seed", edit("seed = 2019", "seed = -1"),
     [": trial.seed = -1: must be between 0 and 9223372036854775807"]),
    ("edss sd 0", edit("sd = 1.2", "sd = 0"),
     [": population.edss.sd = 0: must be between 0 (exclusive) and 9.5 EDSS points"]),
    ("age over 100", edit("max = 55", "max = 120"),
     [": population.age.max = 120: must be between 0 and 100 years"]),
    ("relapses over 20", edit("relapses_prior_year = { min = 2 }", "relapses_prior_year = { min = 2, max = 21 }"),
     [": population.relapses_prior_year.max = 21: must be between 0 and 20 relapses"]),
    ("female fraction", edit("female_fraction = 0.7", "female_fraction = 1.5"),
     [": population.female_fraction = 1.5: must be between 0 and 1"]),
    ("unknown regimen", edit('regimen = "cy_atg"', 'regimen = "flu_mel"'),
     [": arms[0].conditioning.regimen = 'flu_mel': must be one of cy_atg, beam_atg, bu_cy_atg, tbi_cy_atg"]),
    ("missing regimen", edit('regimen = "cy_atg", ', ""),
     [": arms[0].conditioning.regimen: missing required field (one of cy_atg, beam_atg"]),
    ("unknown graft source", edit('source = "peripheral_blood"', 'source = "umbilical"'),
     [": arms[0].graft.source = 'umbilical': must be one of bone_marrow, peripheral_blood, cord_blood"]),
    ("unknown therapy", edit('therapy = "conventional"', 'therapy = "homeopathy"'),
     [": arms[1].therapy = 'homeopathy': must be one of ahsct, mobilization_only, msc, conventional, placebo"]),
    ("unknown drug", edit('drugs = ["natalizumab"]', 'drugs = ["aspirin"]'),
     [": arms[1].drugs[0] = 'aspirin': must be one of alemtuzumab, dimethyl_fumarate, fingolimod, "
      "glatiramer, interferon_beta, mitoxantrone, natalizumab, ocrelizumab"]),
    ("unknown prior drug", edit('prior_dmt = ["interferon_beta"]', 'prior_dmt = ["interferon_beta", "vitamin_d"]'),
     [": population.prior_dmt[1] = 'vitamin_d': must be one of alemtuzumab"]),
    ("duplicate drug", edit('drugs = ["natalizumab"]', 'drugs = ["natalizumab", "natalizumab"]'),
     [": arms[1].drugs[1] = 'natalizumab': is listed twice; drugs must be distinct"]),
    ("four drugs", edit('drugs = ["natalizumab"]', 'drugs = ["natalizumab", "fingolimod", "glatiramer", "ocrelizumab"]'),
     [": arms[1].drugs: must list between 1 and 3 drugs, got 4"]),
    ("unknown course", edit('course = "relapsing_remitting"', 'course = "benign"'),
     [": population.course = 'benign': must be one of relapsing_remitting, secondary_progressive, primary_progressive"]),
    ("unknown disease", edit('disease = "multiple_sclerosis"', 'disease = "psoriasis"'),
     [": trial.disease = 'psoriasis': must be one of multiple_sclerosis, systemic_sclerosis"]),
    ("empty arms", "arms = []\n" + MINIMAL.split("[[arms]]")[0],
     [": arms: must list between 1 and 12 arms, got 0"]),
    ("arms not an array", 'arms = "DMT"\n' + MINIMAL.split("[[arms]]")[0],
     [": arms: expected an array, got string 'DMT'"]),
    ("duplicate arm names", edit('name = "DMT"', 'name = "ahsct"'),
     [": arms[1].name = 'ahsct': must be unique ignoring case; arms[0] is already named 'aHSCT'"]),
    ("bad arm name", edit('name = "DMT"', 'name = "-DMT"'),
     [": arms[1].name = '-DMT': must start with a letter or digit"]),
    ("age min > max", edit("min = 18, max = 55", "min = 60, max = 40"),
     [": population.age.min = 60.0: must not exceed max (40 years)"]),
    ("mean outside [min, max]", edit("mean = 3.3", "mean = 7.0"),
     [": population.edss.mean = 7.0: must lie between min and max (2 and 6 EDSS points)"]),
    ("control arm naming no arm", edit("seed = 2019", 'seed = 2019\ncontrol_arm = "Placebo"'),
     [": trial.control_arm = 'Placebo': must be one of aHSCT, DMT (the arm names)"]),
    ("stop_year beyond follow-up", edit('drugs = ["natalizumab"]', 'drugs = ["natalizumab"]\nstop_year = 7.0'),
     [": arms[1].stop_year = 7.0: must be between 0 (exclusive) and 5 (exclusive) years"]),
    ("mobilisation without agent",
     edit("cyclophosphamide_g_per_m2 = 2.0, g_csf = true", "cyclophosphamide_g_per_m2 = 0, g_csf = false"),
     [": arms[0].mobilization.g_csf = false: must be true when no cyclophosphamide is given"]),
    ("mobilisation dose in two units",
     edit("cyclophosphamide_g_per_m2 = 2.0, g_csf = true", "cyclophosphamide_g_per_m2 = 2.0, g_csf = true, "
          "cyclophosphamide_mg_per_kg = 100"),
     [": arms[0].mobilization.cyclophosphamide_mg_per_kg = 100.0: must be 0 when cyclophosphamide_g_per_m2 is given"]),
    ("lung dose above the TBI dose", edit('regimen = "cy_atg", ', 'regimen = "tbi_cy_atg", tbi_gy = 8, tbi_lung_gy = 10, '),
     [": arms[0].conditioning.tbi_lung_gy = 10.0: must be between 0 and 8 Gy: shielding lowers"]),
    ("horse ATG dose out of range", edit("atg_mg_per_kg = 6.0", "atg_mg_per_kg = 6.0, equine_atg_mg_per_kg = 300"),
     [": arms[0].conditioning.equine_atg_mg_per_kg = 300: must be between 0 and 200 mg/kg"]),
    ("invalid TOML syntax", "[trial]\nname = \"x\"\nseed = = 3\n",
     [": line 3, column 8: invalid TOML (Invalid value)"]),
    ("duplicate TOML key", "[trial]\nseed = 1\nseed = 2\n", [": line 3, column", "invalid TOML"]),
    ("TOML ends early", "[trial]\nname = [1, 2", [": end of file: invalid TOML"]),
    ("array bomb", "x = " + "[" * 100_000, ["invalid TOML", "nested too deeply"]),
    ("inline-table bomb", edit("female_fraction = 0.7",
                               "female_fraction = " + "{a = " * 200 + "1" + "}" * 200),
     [": population.female_fraction.a.a.a", "nested too deeply (more than 32 levels)"]),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_scenarios(tmp_path: Path, text: str, expected: list[str]) -> None:
    message = error_of(tmp_path, text)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_non_utf8_bytes(tmp_path: Path) -> None:
    raw = EXAMPLE.encode("utf-8").replace(b'"MIST-like"', b'"MIST\xff-like"')
    message = error_of(tmp_path, raw)
    assert ": line 2, column 13: not valid UTF-8 (byte 0xff)" in message


def test_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "nope.toml")
    assert str(info.value) == f"{tmp_path / 'nope.toml'}: file not found"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="is a directory"):
        load_scenario(tmp_path)


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    assert load_scenario(write(tmp_path, b"\xef\xbb\xbf" + EXAMPLE.encode())).trial.seed == 2019


def test_further_errors_are_counted(tmp_path: Path) -> None:
    text = edit("seed = 2019", "seed = -1").replace("patients_per_arm = 2000", "patients_per_arm = 0")
    message = error_of(tmp_path, text)
    assert message.endswith("(and 1 more)")


def test_parse_scenario_uses_source_name() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario({"trial": {}}, source="inline")
    assert str(info.value).startswith("inline: trial.")
    with pytest.raises(ScenarioError, match=r"^<scenario>: expected a table"):
        parse_scenario([1, 2])  # type: ignore[arg-type]


def test_scenario_error_attributes_and_pickle() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(tomllib.loads(edit("atg_mg_per_kg = 6.0", "atg_mg_per_kg = 40.0")), "s.toml")
    err = info.value
    assert err.path == "arms[0].conditioning.atg_mg_per_kg" and err.value == "40.0"
    assert str(err) == "s.toml: arms[0].conditioning.atg_mg_per_kg = 40.0: must be between 0 and 15 mg/kg"
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


# ---------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**20, 10**20))
def test_atg_dose_accepted_iff_in_range(dose: float) -> None:
    data = tomllib.loads(EXAMPLE)
    data["arms"][0]["conditioning"]["atg_mg_per_kg"] = dose
    if 0 <= dose <= 15:
        assert parse_scenario(data).arms[0].conditioning.atg_mg_per_kg == dose
    else:
        with pytest.raises(ScenarioError, match=r"atg_mg_per_kg = .*: must be between 0 and 15 mg/kg$"):
            parse_scenario(data)


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_junk = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["trial", "arms", "name", "seed", "x"]) | st.text(max_size=4),
                      inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["trial", "population", "arms", "extra"]), _junk, max_size=3))
def test_junk_only_ever_raises_one_line_scenario_errors(data: dict) -> None:
    try:
        parse_scenario(data)
    except ScenarioError as err:
        assert "\n" not in str(err)
