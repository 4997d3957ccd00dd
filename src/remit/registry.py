"""One small registry per kind of plug-in (diseases, therapies, endpoint kinds, solvers).

A unit registers itself under a short id when its module is imported; each package's
``__init__`` imports its unit modules explicitly, so the registry is complete once the
package is imported. Shared code looks units up by id and never names one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

T = TypeVar("T")


class Registry(Generic[T]):
    """Units of one kind, by id (registration order kept).

    Parameters
    ----------
    kind
        What the units are, for messages ("disease", "therapy", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._units: dict[str, T] = {}

    @overload
    def register(self, id: str) -> Callable[[T], T]: ...
    @overload
    def register(self, id: str, unit: T) -> T: ...

    def register(self, id, unit=None):
        """Register ``unit`` under ``id``; without ``unit``, a decorator. A duplicate id is refused."""
        if unit is None:
            return lambda u: self.register(id, u)
        if not isinstance(id, str) or not id:
            raise ValueError(f"a {self.kind} id must be a non-empty string, got {id!r}")
        if id in self._units:
            raise ValueError(f"{self.kind} {id!r} is registered twice")
        self._units[id] = unit
        return unit

    def unregister(self, id: str) -> None:
        """Remove ``id`` (for tests that register a unit of their own)."""
        del self._units[id]

    def get(self, id: str) -> T:
        """The unit registered as ``id``; a KeyError naming the known ids (and the nearest) otherwise."""
        try:
            return self._units[id]
        except (KeyError, TypeError):
            raise KeyError(self.unknown(id)) from None

    def unknown(self, id: object) -> str:
        """The message for an unknown id: the known ones, and a did-you-mean where one is near."""
        near = difflib.get_close_matches(str(id), list(self._units), n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        return f"unknown {self.kind} {id!r} (known: {', '.join(self._units)}){hint}"

    def ids(self) -> tuple[str, ...]:
        """Registered ids in registration order."""
        return tuple(self._units)

    def items(self) -> tuple[tuple[str, T], ...]:
        return tuple(self._units.items())

    def __contains__(self, id: object) -> bool:
        return id in self._units

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._units))

    def __len__(self) -> int:
        return len(self._units)
