"""jinja2 templates of remit's HTML pages.

Every page (the trial report, the design studies, the validation page, the clinician's web
page) is rendered from templates with autoescaping on, so text from scenarios, evidence
records and patients is escaped wherever a template places it. The Python side hands the
templates plain data: display strings, :class:`Table` rows and plotly figures. A figure is
placed with the ``plot`` function of the page (:class:`Figures`), which marks plotly's own
HTML safe and inlines plotly.js with the first figure, so a page is one file that opens
offline.

The pages written to disk share ``base.html.j2`` (header, navigation, sections, footer) and
``macros.html.j2`` (section, table, note, key-value list, figure) in
``remit/report/templates``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

from jinja2 import Environment, PackageLoader, StrictUndefined, Undefined
from markupsafe import Markup

__all__ = ["Figures", "Table", "environment", "render_page"]

# plotly's modebar without its logo; the figure follows the width of the page
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def environment(package: str, *, strict: bool = True) -> Environment:
    """A jinja2 environment over ``<package>/templates`` with autoescaping on.

    Block tags leave no blank lines (``trim_blocks``, ``lstrip_blocks``). ``strict`` makes an
    undefined variable an error instead of empty text; templates that test for optional
    variables (the web page's layout) need ``strict=False``.
    """
    return Environment(loader=PackageLoader(package, "templates"), autoescape=True, trim_blocks=True,
                       lstrip_blocks=True, keep_trailing_newline=True,
                       undefined=StrictUndefined if strict else Undefined)


@lru_cache(maxsize=1)
def _pages() -> Environment:
    return environment("remit.report")


class Figures:
    """The ``plot(figure, div_id)`` function of one page: a plotly figure as its HTML div.

    The first figure rendered carries the plotly.js bundle inline; templates render in
    document order, so that is the first figure of the page.
    """

    def __init__(self) -> None:
        self.js_included = False

    def __call__(self, figure: Any, div_id: str) -> Markup:
        # include_plotlyjs=True is plotly's spelling for "inline the bundle"
        html = figure.to_html(full_html=False, include_plotlyjs=not self.js_included, div_id=div_id,
                              config=PLOTLY_CONFIG)
        self.js_included = True
        return Markup(html)  # plotly's output: the figure's data is JSON inside a script


@dataclass(frozen=True)
class Table:
    """Rows of display strings for the ``table`` macro.

    ``numeric`` marks right-aligned columns (all left-aligned by default); ``row_classes``
    gives each row a CSS class (empty: none).
    """

    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    numeric: Sequence[bool] = field(default=())
    row_classes: Sequence[str] = field(default=())

    def __post_init__(self) -> None:
        if not self.numeric:
            object.__setattr__(self, "numeric", [False] * len(self.headers))
        if len(self.numeric) != len(self.headers):
            raise ValueError(f"numeric: {len(self.numeric)} flags for {len(self.headers)} columns")
        if self.row_classes and len(self.row_classes) != len(self.rows):
            raise ValueError(f"row_classes: {len(self.row_classes)} classes for {len(self.rows)} rows")


def render_page(template: str, **context: Any) -> str:
    """Render one page of ``remit/report/templates`` (with a fresh ``plot`` and remit's version)."""
    from remit import __version__

    return _pages().get_template(template).render(plot=Figures(), remit_version=__version__, **context)
