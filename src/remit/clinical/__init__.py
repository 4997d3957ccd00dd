"""The clinical side of each disease: population, scores, events, endpoints (see :mod:`remit.clinical.base`)."""

from __future__ import annotations

import importlib
import importlib.util
from functools import lru_cache

from remit.clinical.base import Disease
from remit.scenario import DISEASES

# disease name -> module defining ``DISEASE`` (a :class:`Disease` instance); the names are the scenario's
MODULES = {name: f"remit.clinical.{name}" for name in DISEASES}


@lru_cache(maxsize=None)
def get_disease(name: str) -> Disease:
    """The :class:`Disease` called ``name``."""
    if name not in MODULES:
        raise KeyError(f"unknown disease {name!r} (known: {', '.join(MODULES)})")
    return importlib.import_module(MODULES[name]).DISEASE


def available() -> tuple[str, ...]:
    """Diseases whose module is installed."""
    return tuple(name for name, mod in MODULES.items() if importlib.util.find_spec(mod) is not None)


__all__ = ["Disease", "MODULES", "available", "get_disease"]
