"""The declaration of a calibrated quantity (kept free of heavy imports: disease plug-ins use it)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Scale = Literal["log", "logit", "linear"]


@dataclass(frozen=True)
class FitParameter:
    """A population-level quantity calibrated: ``field`` (``value``: the typical value, or
    ``cv``: the between-patient spread) of model parameter ``name``, explored uniformly on
    ``scale`` between ``low`` and ``high`` (the calibration prior; within the parameter's
    own plausible range), with the reason it is fitted."""

    name: str
    low: float
    high: float
    scale: Scale = "log"
    field: Literal["value", "cv"] = "value"
    why: str = ""

    @property
    def key(self) -> str:
        return self.name if self.field == "value" else f"{self.name}.cv"

    def to_internal(self, x: float) -> float:
        if self.scale == "log":
            return math.log(x)
        if self.scale == "logit":
            return math.log(x / (1.0 - x))
        return float(x)

    def from_internal(self, u: float) -> float:
        if self.scale == "log":
            x = math.exp(u)
        elif self.scale == "logit":
            x = 1.0 / (1.0 + math.exp(-u))
        else:
            x = float(u)
        return min(max(x, self.low), self.high)  # the transform's round-off stays inside the prior
