"""One small registry per kind of unit (solvers now; diseases, therapies and endpoint kinds alike).

A unit registers itself under a short id when its module is imported; the package holding the
units imports each of their modules explicitly, so its registry is complete once the package is
imported. Shared code looks units up by id and never names one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator


class Registry:
    """Units of one kind by id, in registration order.

    Parameters
    ----------
    kind
        What the units are, for messages ("solver method", "disease", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._units: dict[str, object] = {}

    def register(self, id: str, obj=None):
        """Register ``obj`` under ``id`` and return it; without ``obj``, a decorator that does so.

        An empty id and a duplicate id are refused (ValueError)."""
        if obj is None:
            return lambda unit: self.register(id, unit)
        if not isinstance(id, str) or not id:
            raise ValueError(f"a {self.kind} id must be a non-empty string, got {id!r}")
        if id in self._units:
            raise ValueError(f"{self.kind} {id!r} is registered twice")
        self._units[id] = obj
        return obj

    def get(self, id: str):
        """The unit registered as ``id``; otherwise a KeyError naming the known ids and the nearest one."""
        try:
            return self._units[id]
        except (KeyError, TypeError):
            near = difflib.get_close_matches(str(id), list(self._units), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise KeyError(f"unknown {self.kind} {id!r} (known: {', '.join(self._units)}){hint}") from None

    def ids(self) -> tuple[str, ...]:
        """Registered ids, in registration order."""
        return tuple(self._units)

    def __contains__(self, id: object) -> bool:
        return id in self._units

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids())
