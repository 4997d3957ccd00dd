"""Generated reference pages match the code, and the discovery commands list every disease and therapy."""

from pathlib import Path

from typer.testing import CliRunner

from remit.cli import app
from remit.diseases import DISEASES, get_disease
from remit.docgen import endpoint_names, pages

DOCS = Path(__file__).resolve().parents[1] / "docs"
runner = CliRunner(env={"COLUMNS": "200"})


def test_generated_pages_are_current():
    """docs/scenario.md, docs/model.md and the generated block of docs/endpoints.md equal what the code generates
    (run `remit docs` after changing a schema, a model or an endpoint catalog)."""
    for path, text in pages(DOCS).items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run `remit docs`"


def test_scenario_page_names_every_population_field_and_drug():
    text = (DOCS / "scenario.md").read_text(encoding="utf-8")
    for name in DISEASES:
        d = get_disease(name)
        for field in d.population_model.model_fields:
            assert f"`{field}`" in text
        for drug in d.drugs:
            assert f"`{drug}`" in text
    for therapy in ("ahsct", "mobilization_only", "msc", "conventional", "placebo"):
        assert f'therapy = "{therapy}"' in text


def test_endpoints_page_names_every_endpoint_per_disease():
    text = (DOCS / "endpoints.md").read_text(encoding="utf-8")
    for name in DISEASES:
        for e in get_disease(name).endpoints:
            for row in endpoint_names(e):
                assert f"`{row}`" in text


def test_diseases_and_therapies_commands():
    r = runner.invoke(app, ["diseases"])
    assert r.exit_code == 0
    for name in DISEASES:
        assert name in r.output
    r = runner.invoke(app, ["diseases", "lupus"])
    assert r.exit_code == 0 and "sledai" in r.output and "mycophenolate" in r.output
    r = runner.invoke(app, ["diseases", "psoriasis"])
    assert r.exit_code == 2 and "unknown disease 'psoriasis'" in r.output
    r = runner.invoke(app, ["therapies"])
    assert r.exit_code == 0
    for word in ("dose_cells_per_kg", "umbilical_cord", "intrathecal", "cd34_per_kg", "busulfan_mg_per_kg", "background"):
        assert word in r.output


def test_every_registered_disease_is_a_scenario_disease_with_a_model():
    from remit.diseases import build_model
    from remit.scenario import TrialSettings

    for name in DISEASES:
        assert build_model(name, calibrated=False).name == name
        TrialSettings(name="t", disease=name, seed=1, follow_up_years=1, patients_per_arm=1)
