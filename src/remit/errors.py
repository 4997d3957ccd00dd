"""Exceptions raised by remit.

Every user-facing error renders as ONE line so that the CLI can print it
verbatim and scripts can grep it.
"""

from __future__ import annotations

__all__ = ["RemitError", "ScenarioError"]


class RemitError(Exception):
    """Base class for all errors raised deliberately by remit."""


def _one_line(text: str) -> str:
    return " ".join(str(text).splitlines())


class ScenarioError(RemitError):
    """A scenario file (or dict) could not be read or failed validation.

    ``str(err)`` is a single line::

        scenario.toml: arms[0].conditioning.atg_mg_per_kg = 40.0: must be between 0 and 15 mg/kg

    Attributes:
        source: the file name (or ``"<scenario>"`` for in-memory data).
        detail: what is wrong and what is allowed.
        path: dotted field path such as ``arms[0].graft.cd34_per_kg``, or None.
        value: the offending value already rendered as text, or None.
        location: free-form position such as ``line 3, column 7``, or None.
        more: how many further problems were found but not reported.
    """

    def __init__(
        self,
        source: str,
        detail: str,
        *,
        path: str | None = None,
        value: str | None = None,
        location: str | None = None,
        more: int = 0,
    ) -> None:
        # args stay (source, detail) so the default pickling works; the keyword
        # attributes travel in __dict__.
        super().__init__(source, detail)
        self.source = source
        self.detail = detail
        self.path = path
        self.value = value
        self.location = location
        self.more = more

    def __str__(self) -> str:
        parts = [str(self.source)]
        if self.location:
            parts.append(self.location)
        if self.path:
            parts.append(self.path if self.value is None else f"{self.path} = {self.value}")
        detail = self.detail
        if self.more:
            detail += f" (and {self.more} more)"
        parts.append(detail)
        return _one_line(": ".join(parts))
