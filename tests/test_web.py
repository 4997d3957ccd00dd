"""remit serve: the FastAPI app (form, results, validation beside the field, refusals, defaults)."""

import re
import time
import warnings

import pytest
from typer.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from remit.cli import app as cli_app
from remit.predict import patient_models
from remit.web import DEFAULT_HOST, create_app
from remit.web.jobs import PredictionQueue

OLDER = {"age": "56", "sex": "male", "disease_duration_years": "22", "course": "secondary_progressive",
         "edss": "6.5", "relapses_prior_year": "0", "new_lesions_prior_year": "0",
         "prior_treatments": ["interferon_beta"], "n_twins": "50", "follow_up_years": "5"}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(n_twins_default=50)) as c:  # the context runs the app's shutdown: workers stop
        yield c


def finished(client, r, timeout_s: float = 300.0):
    """Follow a submitted prediction's job page until it shows the result (or a refusal)."""
    deadline = time.monotonic() + timeout_s
    while 'id="job"' in r.text:
        assert time.monotonic() < deadline, "the prediction did not finish in time"
        assert "Running:" in r.text or "Waiting for a worker" in r.text  # progress shown while it runs
        time.sleep(0.5)
        r = client.get(r.url)
    return r


@pytest.mark.parametrize("disease", list(patient_models()))
def test_form_renders_with_units_and_ranges(client, disease):
    r = client.get(f"/predict/{disease}")
    assert r.status_code == 200
    assert 'name="age"' in r.text and "12-80 years" in r.text
    assert 'id="submit"' in r.text


def test_ms_form_fields(client):
    r = client.get("/predict/multiple_sclerosis")
    assert "EDSS (EDSS points)" in r.text and "0-9.5 EDSS points" in r.text
    assert 'name="prior_treatments" value="natalizumab"' in r.text
    assert r.headers["cache-control"] == "no-store"


def test_valid_submit_shows_every_option(client):
    r = client.post("/predict/multiple_sclerosis", data=OLDER)
    assert r.history and r.history[0].status_code == 303  # the form answers at once with the job's page
    r = finished(client, r)
    assert r.status_code == 200, r.text[:2000]
    for opt in ("ahsct-cy-atg", "ahsct-beam-atg", "msc-iv", "natalizumab", "interferon-beta"):
        assert f'id="option-{opt}"' in r.text
        cell = re.search(rf'id="est-{opt}-progression-5">([^<]*)<', r.text)
        assert cell and re.fullmatch(r"\d+%", cell.group(1)), opt
    assert 'id="curve-progression"' in r.text and 'id="bars-progression"' in r.text
    assert "contraindication" in r.text and "Sharrack" in r.text
    assert "Download JSON" in r.text and "@media print" not in r.text  # print CSS lives in the stylesheet
    assert "@media print" in client.get("/static/style.css").text


def test_bad_value_shows_message_beside_the_field(client):
    r = client.post("/predict/multiple_sclerosis", data={**OLDER, "edss": "12"})
    assert r.status_code == 422
    m = re.search(r'id="error-edss">([^<]*)<', r.text)
    assert m and "must be between 0 and 9.5 EDSS points" in m.group(1)
    assert 'value="12.0"' in r.text or 'value="12"' in r.text  # the entered value stays in the form
    r = client.post("/predict/multiple_sclerosis", data={**OLDER, "age": "abc"})
    assert r.status_code == 422
    assert "expected a number" in re.search(r'id="error-age">([^<]*)<', r.text).group(1)


def test_too_large_requests_are_refused(client):
    r = client.post("/predict/multiple_sclerosis", data={**OLDER, "n_twins": "100000"})
    assert r.status_code == 422
    assert "larger requests take too long" in re.search(r'id="error-n_twins">([^<]*)<', r.text).group(1)
    r = client.post("/predict/multiple_sclerosis", data={**OLDER, "follow_up_years": "50"})
    assert r.status_code == 422 and "longer requests take too long" in r.text


def test_unknown_disease_and_api_errors(client):
    assert client.get("/predict/asthma").status_code == 404
    r = client.post("/api/predict", json={"disease": "multiple_sclerosis", "age": 200})
    assert r.status_code == 422 and "age" in r.json()["errors"]


def test_plotly_is_served_locally(client):
    r = client.get("/static/plotly.min.js")
    assert r.status_code == 200 and len(r.content) > 1_000_000


def test_server_binds_localhost_by_default():
    assert DEFAULT_HOST == "127.0.0.1"
    res = CliRunner().invoke(cli_app, ["serve", "--help"])
    assert res.exit_code == 0 and "127.0.0.1" in res.output


def test_predictions_run_off_the_event_loop_and_a_full_queue_says_busy():
    """Eight predictions submitted at once are all accepted and all succeed; while they run, the landing page
    answers in under 200 ms; a ninth is refused at once with a busy-retry answer (HTTP 503)."""
    queue = PredictionQueue(workers=1, capacity=8)
    with TestClient(create_app(n_twins_default=50, queue=queue)) as c:
        patients = [{**OLDER, "age": str(40 + i), "n_twins": "50", "follow_up_years": "2"} for i in range(9)]
        jobs = []
        for p in patients[:8]:
            r = c.post("/predict/multiple_sclerosis", data=p, follow_redirects=False)
            assert r.status_code == 303, r.text[:500]
            jobs.append(r.headers["location"])
        busy = c.post("/predict/multiple_sclerosis", data=patients[8], follow_redirects=False)
        assert busy.status_code == 503 and "busy" in busy.text and "retry" in busy.text
        api_busy = c.post("/api/predict", json={"patient": patient_models()["multiple_sclerosis"].EXAMPLE, "n_twins": 50})
        assert api_busy.status_code == 503 and api_busy.headers["retry-after"] == "60"
        times = []
        while queue.pending() and len(times) < 20:
            t0 = time.perf_counter()
            assert c.get("/").status_code == 200
            times.append(time.perf_counter() - t0)
            time.sleep(0.2)
        assert queue.pending(), "the predictions finished before the page was timed; the test would prove nothing"
        assert max(times) < 0.2, times
        status = c.get(jobs[-1].replace("/jobs/", "/api/jobs/")).json()
        assert status["state"] in ("queued", "running") and status["ahead"] >= 0
        for url in jobs:
            r = finished(c, c.get(url))
            assert r.status_code == 200 and 'id="option-' in r.text, r.text[:500]
