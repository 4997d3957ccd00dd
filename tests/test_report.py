"""The HTML report is one self-contained file with every section."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from remit.diseases import get_disease
from remit.diseases.base import BaselineVariable, Disease, Proportion, Rate, Score, Survival
from remit.endpoints import Records, baseline_table, compute_endpoints, km_fitters
from remit.report import SECTIONS, plots, render_report, write_report
from remit.report import html as report_html
from synthetic import (REQUESTED_BASELINE, ArmParams, TrialParams, make_outcomes, make_patients, make_records, make_spec,
                       make_visits)

PARAMS = TrialParams(n_per_arm=120)
MS_ENDPOINTS = get_disease("multiple_sclerosis").endpoints
MS_BASELINE = get_disease("multiple_sclerosis").baseline
MS_PROGRESSION = get_disease("multiple_sclerosis").endpoint("progression")
TRIAL_NAME = "MIST-like <synthetic> & co"


@pytest.fixture(scope="module")
def inputs():
    records = make_records(PARAMS)
    patients = records.patients
    visits = make_visits(patients, PARAMS.follow_up_years, outcomes=records.outcomes)
    spec = make_spec(PARAMS, name=TRIAL_NAME)
    endpoints = compute_endpoints(records, MS_ENDPOINTS)
    baseline = baseline_table(patients, REQUESTED_BASELINE, MS_BASELINE)
    return dict(spec=spec, patients=patients, visits=visits, endpoints=endpoints, baseline=baseline,
                outcomes=records.outcomes)


def published_table(endpoints: pd.DataFrame) -> pd.DataFrame:
    hr = endpoints[endpoints.endpoint == "progression_hazard_ratio"].iloc[0]
    return pd.DataFrame(
        [
            {
                "endpoint": "progression_hazard_ratio", "arm": hr.arm, "timepoint_years": hr.timepoint_years,
                "published": 0.11, "published_ci_low": 0.03, "published_ci_high": 0.32,
                "simulated": hr.estimate, "sim_ci_low": hr.ci_low, "sim_ci_high": hr.ci_high,
                "source": "Burt et al. 2019 (JAMA)",
            }
        ]
    )


PROVENANCE = {"remit_version": "0.1.0", "seed": 20240601, "model_hash": "abc123", "timings": {"simulate_s": 1.5}}


@pytest.fixture(scope="module")
def report(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    path = out / "report.html"
    write_report(
        path, title="aHSCT vs DMT report", provenance=PROVENANCE,
        published=published_table(inputs["endpoints"]), **inputs,
    )
    return out, path, path.read_text(encoding="utf-8")


def test_single_file(report):
    out, path, _ = report
    assert [p.name for p in out.iterdir()] == ["report.html"]
    assert path.stat().st_size > 1_000_000  # plotly.js is inside


def test_plotly_js_inline_once(report):
    text = report[2]
    signature = get_plotlyjs()[:200]
    assert text.count(signature) == 1


def test_no_network_resources(report):
    text = report[2]
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?\s*(https?:)?//", text, flags=re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?\s*(https?:)?//", text, flags=re.I)


def test_trial_name_and_provenance(report):
    text = report[2]
    assert html.escape(TRIAL_NAME) in text
    assert TRIAL_NAME not in text  # raw '<synthetic>' must be escaped
    for value in ("0.1.0", "20240601", "abc123", "simulate_s"):
        assert value in text


def test_every_section_heading(report):
    text = report[2]
    for heading in SECTIONS.values():
        assert f"<h2>{html.escape(heading)}</h2>" in text, heading
    assert "Burt et al. 2019 (JAMA)" in text


def test_figures_present(report):
    text = report[2]
    for key in ("km", "edss", "arr", "neda3", "engraftment", "cd4"):
        assert f'id="fig-{key}"' in text, key


def test_ms_sections_from_catalog(report):
    text = report[2]
    ms = get_disease("multiple_sclerosis")
    sections = report_html.report_sections(ms)
    assert [k for k in sections if k not in SECTIONS] == ["subgroups", "km", "km_first_relapse", "km_disease_activity", "arr",
                                                          "rate_new_lesion", "edss", "neda3", "slope_edss_slope", "b_cells",
                                                          "solver"]
    assert sections["edss"] == "Mean EDSS over time"
    assert sections["arr"] == "Annualised relapse rate"
    assert sections["neda3"] == "NEDA-3"
    ids = re.findall(r'<section id="([^"]+)">', text)
    # document order; no failures, not mixed, no CAR-T
    assert ids == [k for k in sections if k not in ("solver", "subgroups", "b_cells")]
    assert "Disease: Multiple sclerosis" in text
    assert "Mean EDSS (EDSS points)" in text  # endpoint label from the catalog
    assert "EDSS at baseline (EDSS points)" in text  # baseline label from the catalog


def test_without_published_and_without_transplant(tmp_path):
    params = TrialParams(
        arms=(ArmParams("DMT-high", "conventional", 0.1, 0.3, 0.5), ArmParams("DMT", "conventional", 0.2, 0.6, 1.5)),
        n_per_arm=40,
    )
    records = make_records(params)
    patients = records.patients
    visits = make_visits(patients, params.follow_up_years, outcomes=records.outcomes)
    spec = make_spec(params, name="No transplant")
    path = tmp_path / "r.html"
    write_report(
        path, title="<script>alert(1)</script>", spec=spec, patients=patients, visits=visits,
        endpoints=compute_endpoints(records, MS_ENDPOINTS),
        baseline=baseline_table(patients, {}, MS_BASELINE), provenance={}, outcomes=records.outcomes,
    )
    text = path.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert SECTIONS["published"] not in text
    assert "Solver failures" not in text
    assert "No transplant arm" in text
    assert text.count(get_plotlyjs()[:200]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_atomic_write_keeps_old_file_on_failure(tmp_path, inputs, monkeypatch):
    path = tmp_path / "report.html"
    path.write_text("old", encoding="utf-8")

    def boom(**kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(report_html, "render_report", boom)
    with pytest.raises(RuntimeError):
        write_report(path, title="t", provenance={}, **inputs)
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_plot_functions_are_pure(inputs):
    patients, visits, endpoints = inputs["patients"], inputs["visits"], inputs["endpoints"]
    before = patients.copy()
    figs = [
        plots.km_figure(km_fitters(patients, MS_PROGRESSION)),
        plots.edss_figure(visits),
        plots.arr_figure(endpoints),
        plots.neda3_figure(endpoints),
        plots.engraftment_figure(patients),
        plots.cd4_figure(visits),
    ]
    assert all(isinstance(f, go.Figure) for f in figs)
    pd.testing.assert_frame_equal(patients, before)
    assert plots.engraftment_figure(patients.assign(therapy="conventional")) is None


def test_visit_summary(inputs):
    s = plots.visit_summary(inputs["visits"], "edss")
    row = s[(s.arm == "DMT") & (s.t_years == 0)].iloc[0]
    v = inputs["visits"]
    x = v[(v.arm == "DMT") & (v.t_years == 0)]["edss"]
    assert row["mean"] == pytest.approx(x.mean())
    assert row.ci_low <= row["mean"] <= row.ci_high
    assert row.p10 <= row["median"] <= row.p90


def test_disease_taken_from_spec(inputs):
    spec = make_spec(PARAMS)
    spec.trial.disease = "multiple_sclerosis"
    text = render_report(title="t", provenance={}, **{**inputs, "spec": spec})
    assert "Disease: Multiple sclerosis" in text
    assert 'id="fig-edss"' in text


def test_generic_plot_functions(inputs):
    visits, endpoints = inputs["visits"], inputs["endpoints"]
    f = plots.score_figure(visits, "edss", "EDSS", "EDSS points", ["aHSCT", "DMT"])
    assert f.layout.yaxis.title.text == "EDSS (EDSS points)"
    assert {t.name for t in f.data} >= {"aHSCT", "DMT"}
    assert plots.score_figure(visits, "nope", "Nope", "u").layout.annotations[0].text == "No Nope data"
    r = plots.rate_figure(endpoints, "relapse", "Annualised relapse rate")  # catalog name works too
    assert [t.name for t in r.data] == ["aHSCT", "DMT"]
    pr = plots.proportion_figure(endpoints, "neda3", "NEDA-3", ["DMT", "aHSCT"])
    assert [t.name for t in pr.data] == ["DMT", "aHSCT"]
    km = plots.km_figure(km_fitters(inputs["patients"], MS_PROGRESSION), title="Custom", ylabel="P")
    assert km.layout.title.text == "Custom" and km.layout.yaxis.title.text == "P"


# --------------------------------------------------------------------------
# a made-up non-MS disease: the report follows its catalog
# --------------------------------------------------------------------------


class Fibrosis(Disease):
    """Synthetic disease with one endpoint of each kind plus a second Survival endpoint."""

    name = "synthetic_fibrosis"
    label = "Synthetic fibrosing disease"
    endpoints = (
        Survival("event", "Event-free survival", "time_to_event_years", "had_event", "organ failure or death"),
        Survival("death", "Overall survival", "time_to_death_years", "died"),
        Score("mrss", "mRSS", "points", True, "modified Rodnan skin score"),
        Proportion("response", "Skin response"),
        Rate("flare", "Annualised flare rate", "n_flares"),
    )
    baseline = (
        BaselineVariable("age", "Age", "years", "age"),
        BaselineVariable("mrss_baseline", "mRSS at baseline", "points", "mrss"),
    )
    primary = "event"


FIBROSIS = Fibrosis()
MS_WORDS = ("EDSS", "NEDA", "relapse", "Relapse", "sclerosis", "progression", "Progression")


def fibrosis_tables(params: TrialParams):
    """Synthetic MS tables re-labelled as the made-up disease, with MS columns dropped."""
    ms, ms_outcomes = make_patients(params), make_outcomes(params)
    fu = params.follow_up_years
    rng = np.random.default_rng(3)
    p = ms.drop(columns=["edss_baseline", "n_relapses", "progressed", "time_to_progression_years", "course",
                         "relapses_prior_year"])
    p["time_to_event_years"] = ms["time_to_progression_years"]
    p["had_event"] = ms["progressed"] | ms["died"]
    p["time_to_death_years"] = ms["follow_up_years"]
    p["n_flares"] = ms["n_relapses"]
    p["mrss_baseline"] = ms["edss_baseline"] * 4
    o = ms_outcomes[ms_outcomes.endpoint.isin(["edss", "neda3", "cd4"])].copy()
    o["value"] = np.where(o.endpoint == "edss", o["value"] * 4, o["value"])
    o["endpoint"] = o["endpoint"].astype(str).replace({"edss": "mrss", "neda3": "response"}).astype("category")
    # causes of death and a couple of failed solves
    cause = np.where(ms["treatment_related_death"], "treatment toxicity",
                     rng.choice(["infection", "disease", "background"], len(ms)))
    p["death_cause"] = np.where(ms["died"], cause, "")
    p["solver_status"] = 0
    p["solver_message"] = ""
    p.loc[[0, 1], "solver_status"] = -1
    p.loc[[0, 1], "solver_message"] = "Required step size is less than spacing between numbers."
    visits = make_visits(ms, fu, outcomes=ms_outcomes).rename(columns={"edss": "mrss"})
    visits["mrss"] *= 4
    return p, o.reset_index(drop=True), visits


@pytest.fixture(scope="module")
def fibrosis_report(tmp_path_factory):
    params = TrialParams(n_per_arm=80)
    patients, outcomes, visits = fibrosis_tables(params)
    spec = make_spec(params, name="Fibrosis trial")
    records = Records(patients, outcomes, params.follow_up_years, spec.control.name)
    endpoints = compute_endpoints(records, FIBROSIS.endpoints)
    baseline = baseline_table(patients, {"age": {"mean": 45}}, FIBROSIS.baseline)
    path = tmp_path_factory.mktemp("fibrosis") / "report.html"
    write_report(path, title="Fibrosis report", spec=spec, patients=patients, visits=visits, endpoints=endpoints,
                 baseline=baseline, provenance={"seed": 1}, disease=FIBROSIS, outcomes=outcomes)
    return dict(text=path.read_text(encoding="utf-8"), endpoints=endpoints, patients=patients)


def test_generic_sections(fibrosis_report):
    text = fibrosis_report["text"]
    expected = {
        "provenance": "Provenance",
        "baseline": "Baseline characteristics",
        "endpoints": "Endpoints",
        "km": "Event-free survival (Kaplan-Meier)",
        "km_death": "Overall survival (Kaplan-Meier)",
        "rate_flare": "Annualised flare rate",
        "score_mrss": "Mean mRSS over time",
        "prop_response": "Skin response",
        "engraftment": "Neutrophil engraftment",
        "cd4": "CD4 recovery",
        "trm": "Treatment-related mortality",
        "deaths": "Deaths by cause",
        "solver": "Solver failures",
    }
    found = re.findall(r'<section id="([^"]+)"><h2>([^<]+)</h2>', text)
    assert dict(found) == {k: html.escape(v) for k, v in expected.items()}
    assert [k for k, _ in found] == list(expected)
    sections = report_html.report_sections(FIBROSIS)
    assert sections.pop("subgroups") == "Subgroups"  # only for a mixed cohort
    assert sections.pop("b_cells") == "B-cell return after CAR-T"  # only with a CAR-T arm
    assert {**expected, "published": SECTIONS["published"]} == sections
    for key in ("km", "km_death", "score_mrss", "rate_flare", "prop_response", "engraftment", "cd4"):
        assert f'id="fig-{key}"' in text, key
        assert f'href="#{key}"' in text, key
    assert "Disease: Synthetic fibrosing disease" in text
    assert text.count(get_plotlyjs()[:200]) == 1


def test_generic_labels(fibrosis_report):
    text = fibrosis_report["text"]
    for label in ("Event-free survival (KM)", "Median time to event (years)", "Event hazard ratio (Cox)",
                  "Event log-rank p", "Mean mRSS (points)", "Mean mRSS change from baseline",
                  "Skin response proportion", "Annualised flare rate (per patient-year)", "Flare rate ratio",
                  "mRSS at baseline (points)", "Age (years)", "Female (%)"):
        assert html.escape(label) in text, label
    ep = fibrosis_report["endpoints"]
    hr = ep[ep.endpoint == "event_hazard_ratio"].iloc[0]
    assert f"aHSCT vs DMT: HR {hr.estimate:.2f}" in text  # hazard-ratio note under the primary KM plot
    assert "Definition: modified Rodnan skin score" in text


def test_no_ms_wording(fibrosis_report):
    text = fibrosis_report["text"].replace(get_plotlyjs(), "")
    for word in MS_WORDS:
        assert word not in text, word


def test_deaths_and_solver_failures(fibrosis_report):
    text, patients = fibrosis_report["text"], fibrosis_report["patients"]
    deaths = re.search(r'<section id="deaths">.*?</section>', text).group(0)
    died = patients[patients.death_cause != ""]
    for cause, g in died.groupby("death_cause"):
        cells = re.search(rf"<td>{cause.capitalize()}</td>(.*?)</tr>", deaths).group(1)
        counts = [int(c) for c in re.findall(r'<td class="num">(\d+)', cells)]
        assert counts == [int((g.arm == "aHSCT").sum()), int((g.arm == "DMT").sum()), len(g)]
    total = re.search(r"<td>All causes</td>(.*?)</tr>", deaths).group(1)
    assert re.findall(r'<td class="num">(\d+)', total)[-1] == str(len(died))
    solver = re.search(r'<section id="solver">.*?</section>', text).group(0)
    assert "Required step size is less than spacing between numbers. (\u00d72)" in solver
    assert "2 patient(s)" in solver
