"""The ``[[arms]]`` table of an MSC arm: cell source, dose, route, schedule, background drugs."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, get_args

from pydantic import Field, model_validator

from remit.schema.types import CHOICE, Model, Range, fail
from remit.therapies.base import ArmBase, Background

__all__ = ["MSC_ROUTES", "MSC_SOURCES", "MscArm", "MscSchedule"]

MscSource = Literal["bone_marrow", "adipose", "umbilical_cord"]
MscRoute = Literal["intravenous", "local", "intrathecal"]
MSC_SOURCES: tuple[str, ...] = get_args(MscSource)
MSC_ROUTES: tuple[str, ...] = get_args(MscRoute)


class MscSchedule(Model):
    """Number of MSC doses (1..52) and days between them (1..365; required when doses > 1)."""

    doses: Annotated[int, Range(1, 52)] = 1
    interval_days: Annotated[float, Range(1, 365)] | None = None

    @model_validator(mode="after")
    def _interval(self) -> "MscSchedule":
        if self.doses > 1 and self.interval_days is None:
            raise fail("is required when doses > 1 (days between doses, 1 to 365)", at=("interval_days",))
        if self.doses == 1 and self.interval_days is not None:
            raise fail("must be left out for a single dose (doses = 1)", at=("interval_days",),
                        value=self.interval_days)
        return self


class MscArm(ArmBase):
    """Mesenchymal stromal cells: source, dose (cells/kg, 1e4..1e9), route, schedule,
    and background drugs continued unchanged (0..3)."""

    DRUG_FIELDS: ClassVar[tuple[str, ...]] = ("background",)

    therapy: Literal["msc"] = "msc"
    source: Annotated[MscSource, CHOICE]
    dose_cells_per_kg: Annotated[float, Range(1e4, 1e9)]
    route: Annotated[MscRoute, CHOICE]
    schedule: MscSchedule = Field(default_factory=MscSchedule)
    background: Background = ()
