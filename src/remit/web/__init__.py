"""The clinician's page: ``remit serve`` (FastAPI + uvicorn, plotly charts).

One form per disease, generated from the pydantic patient schema (:mod:`remit.predict`),
with units and allowed ranges; the results page shows outcome curves per option, probability
bars with 90% intervals, the guideline warnings (:mod:`remit.guidelines`) and a printable
summary. Bad input re-renders the form with HTTP 422 and the message beside the field; a
request beyond the limits (twins, follow-up, options, time budget) is refused with a message.
Predictions run in worker processes behind a bounded queue (:mod:`remit.web.jobs`), never on the
event loop; a submitted form shows a progress page until the result is ready, and a full queue
answers "busy, retry" at once.
Nothing about a patient is written to disk: predictions live in memory only, and the JSON
download is generated in the browser from the page itself.
"""

from remit.web.app import DEFAULT_HOST, WEB_LIMITS, create_app

__all__ = ["DEFAULT_HOST", "WEB_LIMITS", "create_app"]
