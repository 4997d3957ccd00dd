"""HTML trial report: ``write_report`` writes one self-contained file.

Figures live in ``remit.report.plots`` (pure functions returning plotly
figures); page assembly in ``remit.report.html``.
"""

from remit.report import plots
from remit.report.html import SECTIONS, render_report, write_report

__all__ = ["SECTIONS", "plots", "render_report", "write_report"]
