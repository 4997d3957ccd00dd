"""HTML trial report: ``write_report`` writes one self-contained file.

Figures live in ``remit.report.plots`` (pure functions returning plotly
figures); the report's data in ``remit.report.html``; the layout of every HTML
page in ``remit/report/templates`` (``remit.report.templating``).

The report's names are imported on first use, so that the web page, which
needs only ``remit.report.templating``, does not load plotly and lifelines.
"""

from importlib import import_module

__all__ = ["SECTIONS", "plots", "render_report", "write_report"]

_FROM = {"SECTIONS": "remit.report.html", "render_report": "remit.report.html", "write_report": "remit.report.html"}


def __getattr__(name: str):
    if name == "plots":
        return import_module("remit.report.plots")
    if name in _FROM:
        return getattr(import_module(_FROM[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
