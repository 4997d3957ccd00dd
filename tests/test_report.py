"""The HTML report is one self-contained file with every section."""

from __future__ import annotations

import html
import re

import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from remit.endpoints import baseline_table, compute_endpoints, km_fitters
from remit.report import SECTIONS, plots, write_report
from remit.report import html as report_html
from synthetic import REQUESTED_BASELINE, ArmParams, TrialParams, make_patients, make_spec, make_visits

PARAMS = TrialParams(n_per_arm=120)
TRIAL_NAME = "MIST-like <synthetic> & co"


@pytest.fixture(scope="module")
def inputs():
    patients = make_patients(PARAMS)
    visits = make_visits(patients, PARAMS.follow_up_years)
    spec = make_spec(PARAMS, name=TRIAL_NAME)
    endpoints = compute_endpoints(patients, spec.control.name, spec.trial.follow_up_years)
    baseline = baseline_table(patients, REQUESTED_BASELINE)
    return dict(spec=spec, patients=patients, visits=visits, endpoints=endpoints, baseline=baseline)


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


def test_without_published_and_without_transplant(tmp_path):
    params = TrialParams(
        arms=(ArmParams("DMT-high", "conventional", 0.1, 0.3, 0.5), ArmParams("DMT", "conventional", 0.2, 0.6, 1.5)),
        n_per_arm=40,
    )
    patients = make_patients(params)
    visits = make_visits(patients, params.follow_up_years)
    spec = make_spec(params, name="No transplant")
    path = tmp_path / "r.html"
    write_report(
        path, title="<script>alert(1)</script>", spec=spec, patients=patients, visits=visits,
        endpoints=compute_endpoints(patients, "DMT", params.follow_up_years),
        baseline=baseline_table(patients, {}), provenance={},
    )
    text = path.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert SECTIONS["published"] not in text
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
        plots.km_figure(km_fitters(patients)),
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
