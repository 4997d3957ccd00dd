"""The FastAPI application behind ``remit serve``."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from remit.predict import LIMITS, default_options, field_errors, parse_patient, patient_models
from remit.web.form import form_fields, parse_form
from remit.web.jobs import DONE, FAILED, PredictionQueue, default_workers
from remit.web.render import disease_label, env, option_choices, result_context

DEFAULT_HOST = "127.0.0.1"
# a web request answers within a minute or is refused
WEB_LIMITS = dataclasses.replace(LIMITS, max_twins=500, max_follow_up_years=10.0, time_budget_s=60.0,
                                 max_candidates=40_000)
DEFAULT_TWINS = 200
STATIC = Path(__file__).parent / "static"


class _Cache:
    """Recent predictions in memory only (never on disk), keyed by the request."""

    def __init__(self, size: int = 16):
        self.size, self.data, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        return None

    def put(self, key, value):
        with self.lock:
            self.data[key] = value
            while len(self.data) > self.size:
                self.data.popitem(last=False)


BUSY = ("The server is busy: {n} predictions are running or waiting, as many as it takes at once. "
        "Please retry in a minute.")


def create_app(limits=WEB_LIMITS, n_twins_default: int = DEFAULT_TWINS, queue: PredictionQueue | None = None) -> FastAPI:
    """The app. Predictions run in ``queue``'s worker processes (default: :func:`default_workers`, at most 8
    running or waiting), never on the event loop, so every other request stays fast."""
    queue = queue or PredictionQueue(workers=default_workers(), capacity=8)

    @asynccontextmanager
    async def lifespan(app):
        yield
        queue.close()

    app = FastAPI(title="remit: one patient, every option", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.queue = queue
    cache = _Cache()

    def html(body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    def form_page(disease: str, values: dict, errors: dict, message: str = "", status: int = 200, settings=None):
        settings = settings or {"n_twins": n_twins_default, "follow_up_years": 5, "options": None}
        return html(env().get_template("form.html").render(
            disease=disease, disease_label=disease_label(disease), fields=form_fields(disease), values=values,
            errors=errors, message=message, options=option_choices(disease, values), settings=settings, limits=limits,
            diseases=[(d, disease_label(d)) for d in patient_models()]), status)

    @app.get("/", response_class=HTMLResponse)
    def index():
        return html(env().get_template("index.html").render(diseases=[(d, disease_label(d)) for d in patient_models()]))

    @app.get("/health")
    def health():
        return {"ok": True}

    @app.get("/static/{name}")
    def static(name: str):
        if name == "plotly.min.js":
            from plotly.offline import get_plotlyjs

            return Response(get_plotlyjs(), media_type="application/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})
        path = STATIC / name
        if "/" in name or not path.is_file():
            return Response("not found", status_code=404)
        media = "text/css" if name.endswith(".css") else "application/javascript"
        return Response(path.read_text(encoding="utf-8"), media_type=media)

    @app.get("/predict/{disease}", response_class=HTMLResponse)
    def form(disease: str):
        if disease not in patient_models():
            return html(f"unknown disease {disease!r}", 404)
        return form_page(disease, patient_models()[disease].EXAMPLE, {})

    @app.post("/predict/{disease}", response_class=HTMLResponse)
    async def submit(disease: str, request: Request):
        if disease not in patient_models():
            return html(f"unknown disease {disease!r}", 404)
        form_data = await request.form()
        data, errors = parse_form(disease, form_data)
        settings, s_errors = _settings(form_data, limits, n_twins_default)
        errors.update({k: v for k, v in field_errors(data).items() if k not in errors})
        errors.update(s_errors)
        if errors:
            return form_page(disease, data, errors, "Please correct the fields marked below.", 422, settings)
        patient = parse_patient(data)
        if settings["options"]:  # options offered for another patient (e.g. before a fistula was ticked) are dropped
            known = {o.id for o in default_options(patient)}
            settings["options"] = [o for o in settings["options"] if o in known] or None
        key = json.dumps([patient.model_dump(mode="json"), settings], sort_keys=True)
        pred = cache.get(key)
        if pred is not None:
            return result_page(pred)
        kwargs = {"options": settings["options"], "n_twins": settings["n_twins"],
                  "follow_up_years": settings["follow_up_years"], "limits": limits}
        job = queue.submit(key, disease, patient.model_dump(mode="json"), kwargs, form=data, settings=settings)
        if job is None:
            return form_page(disease, data, {}, BUSY.format(n=queue.capacity), 503, settings)
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    def result_page(pred) -> HTMLResponse:
        return html(env().get_template("result.html").render(**result_context(pred), standalone=False, plotly_js=None))

    @app.get("/jobs/{job_id}", response_class=HTMLResponse)
    def job_page(job_id: str):
        job = queue.get(job_id)
        if job is None:
            return html("unknown or expired prediction; submit the form again", 404)
        if job.state == DONE:
            cache.put(job.key, job.result)
            return result_page(job.result)
        if job.state == FAILED:
            return form_page(job.disease, job.form, {}, f"Refused: {job.error}", job.status, job.settings)
        return html(env().get_template("job.html").render(
            job=job, ahead=queue.ahead(job), disease_label=disease_label(job.disease),
            diseases=[(d, disease_label(d)) for d in patient_models()]))

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str):
        job = queue.get(job_id)
        if job is None:
            return JSONResponse({"error": "unknown or expired job"}, status_code=404)
        return JSONResponse(job.summary(queue.ahead(job)))

    @app.post("/api/predict")
    async def api_predict(request: Request):
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        patient = body.get("patient", body)
        errors = field_errors(patient) if isinstance(patient, dict) else {"patient": "must be an object"}
        if errors:
            return JSONResponse({"errors": errors}, status_code=422)
        try:
            kwargs = {"options": body.get("options"), "n_twins": int(body.get("n_twins", n_twins_default)),
                      "follow_up_years": float(body.get("follow_up_years", 5.0)), "limits": limits}
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": f"n_twins and follow_up_years must be numbers ({exc})"}, status_code=422)
        key = json.dumps(["api", patient, {k: v for k, v in kwargs.items() if k != "limits"}], sort_keys=True, default=str)
        job = queue.submit(key, str(patient.get("disease", "")), patient, kwargs)
        if job is None:
            return JSONResponse({"error": BUSY.format(n=queue.capacity)}, status_code=503,
                                headers={"Retry-After": "60"})
        if body.get("wait", True) is False:  # scripts may poll /api/jobs/{id} instead of holding the connection
            return JSONResponse(job.summary(queue.ahead(job)), status_code=202,
                                headers={"Location": f"/api/jobs/{job.id}"})
        job = await queue.wait(job)
        if job.state == FAILED:
            return JSONResponse({"error": job.error}, status_code=job.status)
        return JSONResponse(job.result.to_dict())

    return app


def _settings(form, limits, n_default) -> tuple[dict, dict[str, str]]:
    errors: dict[str, str] = {}
    out: dict = {"n_twins": n_default, "follow_up_years": 5.0, "options": None}
    raw = (form.get("n_twins") or "").strip()
    if raw:
        try:
            out["n_twins"] = int(float(raw))
        except ValueError:
            errors["n_twins"] = f"n_twins: expected an integer, got {raw[:20]!r}"
        else:
            if not limits.min_twins <= out["n_twins"] <= limits.max_twins:
                errors["n_twins"] = (f"n_twins = {out['n_twins']}: must be between {limits.min_twins} and "
                                     f"{limits.max_twins} (larger requests take too long)")
    raw = (form.get("follow_up_years") or "").strip()
    if raw:
        try:
            out["follow_up_years"] = float(raw)
        except ValueError:
            errors["follow_up_years"] = f"follow_up_years: expected a number, got {raw[:20]!r}"
        else:
            if not 1 <= out["follow_up_years"] <= limits.max_follow_up_years:
                errors["follow_up_years"] = (f"follow_up_years = {out['follow_up_years']:g}: must be between 1 and "
                                             f"{limits.max_follow_up_years:g} years (longer requests take too long)")
    opts = [o for o in form.getlist("option") if o]
    if opts:
        out["options"] = opts
    return out, errors
