"""Every therapy's scenario fields are validated: a bad value gives the one-line error naming the
file, the field, the value and the allowed range (MSC, mobilisation-only, placebo, conventional)."""

from pathlib import Path

import pytest

from remit.scenario import ScenarioError, load_scenario

BASE = """\
[trial]
name = "therapies"
disease = "{disease}"
seed = 1
follow_up_years = 2
patients_per_arm = 10
control_arm = "control"

[[arms]]
name = "cells"
{arm}

[[arms]]
name = "control"
therapy = "placebo"
background = [{background}]
"""

MSC = """therapy = "msc"
source = "adipose"
dose_cells_per_kg = 2e6
route = "intravenous"
schedule = {{ doses = 3, interval_days = 7 }}
background = [{background}]"""

BACKGROUND = {"multiple_sclerosis": '"interferon_beta"', "rheumatoid_arthritis": '"methotrexate"', "lupus": '"mycophenolate"',
              "systemic_sclerosis": '"mycophenolate"', "crohns_disease": "", "type1_diabetes": '"insulin"'}


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8")
    return p


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, text))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(tmp_path / "s.toml") + ": ")
    return msg


def base_text(disease="rheumatoid_arthritis", arm=MSC) -> str:
    bg = BACKGROUND[disease]
    return BASE.format(disease=disease, arm=arm.format(background=bg), background=bg)


@pytest.mark.parametrize("disease", sorted(BACKGROUND))
def test_msc_and_placebo_arms_are_valid_for_every_disease(tmp_path, disease):
    spec = load_scenario(_write(tmp_path, base_text(disease)))
    arm = spec.arms[0]
    assert (arm.therapy, arm.source, arm.route, arm.schedule.doses, arm.schedule.interval_days) == ("msc", "adipose", "intravenous", 3, 7.0)
    assert spec.control.therapy == "placebo"


CASES = [
    ('source = "adipose"', 'source = "placenta"', "arms[0].source = 'placenta': must be one of bone_marrow, adipose, umbilical_cord"),
    ('route = "intravenous"', 'route = "oral"', "arms[0].route = 'oral': must be one of intravenous, local, intrathecal"),
    ("dose_cells_per_kg = 2e6", "dose_cells_per_kg = -5", "arms[0].dose_cells_per_kg = -5: must be between 10000 and 1e9 cells/kg"),
    ("dose_cells_per_kg = 2e6", "dose_cells_per_kg = 1e12", "arms[0].dose_cells_per_kg = 1000000000000.0: must be between 10000 and 1e9 cells/kg"),
    ("dose_cells_per_kg = 2e6", 'dose_cells_per_kg = "lots"', "arms[0].dose_cells_per_kg: expected a number, got string 'lots' (must be between 10000 and 1e9 cells/kg)"),
    ("doses = 3, interval_days = 7", "doses = 0, interval_days = 7", "arms[0].schedule.doses = 0: must be between 1 and 52 doses"),
    ("doses = 3, interval_days = 7", "doses = 3", "arms[0].schedule.interval_days: is required when doses > 1"),
    ("doses = 3, interval_days = 7", "doses = 1, interval_days = 7", "arms[0].schedule.interval_days = 7.0: must be left out for a single dose"),
    ("doses = 3, interval_days = 7", "doses = 3, interval_days = 0.5", "arms[0].schedule.interval_days = 0.5: must be between 1 and 365 days"),
    ("doses = 3, interval_days = 7", "doses = 2.5, interval_days = 7", "arms[0].schedule.doses: expected an integer, got float 2.5 (must be between 1 and 52 doses)"),
    ('background = ["methotrexate"]\n\n[[arms]]', 'background = ["natalizumab"]\n\n[[arms]]',
     "arms[0].background[0] = 'natalizumab': must be one of"),
    ('background = ["methotrexate"]\n\n[[arms]]', 'background = ["methotrexate", "methotrexate"]\n\n[[arms]]',
     "arms[0].background[1] = 'methotrexate': is listed twice"),
    ('therapy = "placebo"', 'therapy = "placebo"\ndrugs = ["methotrexate"]', "arms[1].drugs: unknown key (allowed: name, therapy, background)"),
]


@pytest.mark.parametrize(("old", "new", "expected"), CASES, ids=[c[2].split(":")[0] + "/" + c[1][:20] for c in CASES])
def test_bad_msc_and_placebo_fields(tmp_path, old, new, expected):
    text = base_text()
    assert old in text, old
    msg = error(tmp_path, text.replace(old, new, 1))
    assert expected in msg, msg


MOBILIZATION = """therapy = "mobilization_only"
mobilization = {{ cyclophosphamide_g_per_m2 = 4.0, g_csf = true }}"""


def test_mobilization_only_arm(tmp_path):
    spec = load_scenario(_write(tmp_path, base_text("crohns_disease", MOBILIZATION)))
    assert spec.arms[0].mobilization.cyclophosphamide_g_per_m2 == 4.0
    msg = error(tmp_path, base_text("crohns_disease", MOBILIZATION.replace("4.0", "9.0")))
    assert "arms[0].mobilization.cyclophosphamide_g_per_m2 = 9.0: must be between 0 and 7 g/m2" in msg
    msg = error(tmp_path, base_text("crohns_disease", MOBILIZATION + "\ngraft = {{ source = \"bone_marrow\", cd34_per_kg = 2e6 }}"))
    assert "arms[0].graft: unknown key (allowed: name, therapy, mobilization)" in msg


@pytest.mark.parametrize("disease", sorted(BACKGROUND))
def test_conventional_drugs_belong_to_the_trial_disease(tmp_path, disease):
    from remit.diseases import get_disease

    own = next(iter(get_disease(disease).drugs))
    conv = f'therapy = "conventional"\ndrugs = ["{own}"]'
    load_scenario(_write(tmp_path, base_text(disease, conv)))
    msg = error(tmp_path, base_text(disease, 'therapy = "conventional"\ndrugs = ["homeopathy"]'))
    assert "arms[0].drugs[0] = 'homeopathy': must be one of" in msg and f"(the {disease} drugs)" in msg
