"""The arms of a trial: one schema per therapy (aHSCT, mobilisation only, MSC, conventional drugs,
placebo), told apart by their ``therapy`` field."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from remit.schema.types import CHOICE, Items, Model, Range, Text, fail

__all__ = [
    "GRAFT_SOURCES", "MSC_ROUTES", "MSC_SOURCES", "REGIMENS", "THERAPIES", "UNIONS",
    "AhsctArm", "Arm", "ArmBase", "BeamAtg", "BuCyAtg", "Conditioning", "ConditioningRegimen", "ConventionalArm",
    "CyAtg", "Graft", "MobilizationArm", "Mobilization", "MscArm", "MscSchedule", "PlaceboArm", "TbiCyAtg",
    "unique_names",
]

GraftSource = Literal["bone_marrow", "peripheral_blood", "cord_blood"]
MscSource = Literal["bone_marrow", "adipose", "umbilical_cord"]
MscRoute = Literal["intravenous", "local", "intrathecal"]

GRAFT_SOURCES: tuple[str, ...] = get_args(GraftSource)
REGIMENS: tuple[str, ...] = ("cy_atg", "beam_atg", "bu_cy_atg", "tbi_cy_atg")
MSC_SOURCES: tuple[str, ...] = get_args(MscSource)
MSC_ROUTES: tuple[str, ...] = get_args(MscRoute)
THERAPIES: tuple[str, ...] = ("ahsct", "mobilization_only", "msc", "conventional", "placebo")

# the tagged unions of the schema and their tags (messages leave the tags out of field paths)
UNIONS: dict[str, tuple[str, ...]] = {"arms[]": THERAPIES, "conditioning": REGIMENS}

_DrugName = Annotated[str, Text(1, 60)]
_Drugs = Annotated[tuple[_DrugName, ...], Items(1, 3, "drugs", distinct=True)]
_Background = Annotated[tuple[_DrugName, ...], Items(0, 3, "drugs", distinct=True)]


class Mobilization(Model):
    """Stem cell mobilisation: cyclophosphamide in g/m2 (0 = G-CSF-only) plus G-CSF."""

    cyclophosphamide_g_per_m2: Annotated[float, Range(0, 4)]
    g_csf: bool

    @model_validator(mode="after")
    def _mobilises(self) -> "Mobilization":
        if self.cyclophosphamide_g_per_m2 == 0 and not self.g_csf:
            raise fail("must be true when cyclophosphamide_g_per_m2 = 0 "
                        "(otherwise nothing mobilises the stem cells)",
                        at=("g_csf",), value=self.g_csf)
        return self


class Graft(Model):
    """The autologous graft: source, CD34+ cell dose in cells/kg (1e4..1e8), selection."""

    source: Annotated[GraftSource, CHOICE]
    cd34_per_kg: Annotated[float, Range(1e4, 1e8)]
    cd34_selection: bool = False


_AtgMgPerKg = Annotated[float, Range(0, 15)]
_CyMgPerKg = Annotated[float, Range(0, 260)]


class ConditioningRegimen(Model):
    """Base of the conditioning regimens; all doses are required, no silent defaults."""

    def doses(self) -> dict[str, float]:
        """Drug doses keyed by field name (units in the name: mg/kg, mg/m2, Gy)."""
        return {k: float(v) for k, v in self if k != "regimen"}


class CyAtg(ConditioningRegimen):
    """Cyclophosphamide (mg/kg) + rabbit ATG (mg/kg): the usual MS regimen."""

    regimen: Literal["cy_atg"] = "cy_atg"
    cyclophosphamide_mg_per_kg: _CyMgPerKg
    atg_mg_per_kg: _AtgMgPerKg


class BeamAtg(ConditioningRegimen):
    """BEAM (carmustine, etoposide, cytarabine, melphalan; mg/m2) + ATG (mg/kg)."""

    regimen: Literal["beam_atg"] = "beam_atg"
    carmustine_mg_per_m2: Annotated[float, Range(0, 600)]
    etoposide_mg_per_m2: Annotated[float, Range(0, 1600)]
    cytarabine_mg_per_m2: Annotated[float, Range(0, 3200)]
    melphalan_mg_per_m2: Annotated[float, Range(0, 200)]
    atg_mg_per_kg: _AtgMgPerKg


class BuCyAtg(ConditioningRegimen):
    """Busulfan (mg/kg) + cyclophosphamide (mg/kg) + ATG (mg/kg)."""

    regimen: Literal["bu_cy_atg"] = "bu_cy_atg"
    busulfan_mg_per_kg: Annotated[float, Range(0, 20)]
    cyclophosphamide_mg_per_kg: _CyMgPerKg
    atg_mg_per_kg: _AtgMgPerKg


class TbiCyAtg(ConditioningRegimen):
    """Total body irradiation (Gy) + cyclophosphamide (mg/kg) + ATG (mg/kg)."""

    regimen: Literal["tbi_cy_atg"] = "tbi_cy_atg"
    tbi_gy: Annotated[float, Range(0, 14)]
    cyclophosphamide_mg_per_kg: _CyMgPerKg
    atg_mg_per_kg: _AtgMgPerKg


Conditioning = Annotated[CyAtg | BeamAtg | BuCyAtg | TbiCyAtg, Field(discriminator="regimen")]

_ARM_NAME = Text(
    1, 60, pattern=r"[A-Za-z0-9][A-Za-z0-9 _+./-]*",
    hint="start with a letter or digit and use only letters, digits, spaces and _ + . / -",
)


class ArmBase(Model):
    """Common part of all arms: a unique name (1..60 characters)."""

    name: Annotated[str, _ARM_NAME]


class AhsctArm(ArmBase):
    """Autologous HSCT: mobilisation, graft, conditioning, optional G-CSF after the graft."""

    therapy: Literal["ahsct"] = "ahsct"
    mobilization: Mobilization
    graft: Graft
    conditioning: Conditioning
    g_csf_after_graft: bool = False


class MobilizationArm(ArmBase):
    """Stem cell mobilisation and collection only, transplant deferred beyond the
    comparison (the control arm of ASTIC, Hawkey et al. 2015 JAMA 314:2524)."""

    therapy: Literal["mobilization_only"] = "mobilization_only"
    mobilization: Mobilization


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

    therapy: Literal["msc"] = "msc"
    source: Annotated[MscSource, CHOICE]
    dose_cells_per_kg: Annotated[float, Range(1e4, 1e9)]
    route: Annotated[MscRoute, CHOICE]
    schedule: MscSchedule = Field(default_factory=MscSchedule)
    background: _Background = ()


class ConventionalArm(ArmBase):
    """Conventional drugs of the trial's disease: 1..3 distinct drugs, optionally stopped at
    ``stop_year`` (years)."""

    therapy: Literal["conventional"] = "conventional"
    drugs: _Drugs
    stop_year: Annotated[float, Range(0, 30, lo_open=True)] | None = None


class PlaceboArm(ArmBase):
    """Placebo on background therapy (0..3 drugs of the trial's disease, continued unchanged)."""

    therapy: Literal["placebo"] = "placebo"
    background: _Background = ()


Arm = Annotated[AhsctArm | MobilizationArm | MscArm | ConventionalArm | PlaceboArm, Field(discriminator="therapy")]


def unique_names(arms: tuple[ArmBase, ...]) -> tuple[ArmBase, ...]:
    seen: dict[str, int] = {}
    for i, arm in enumerate(arms):
        key = arm.name.casefold()
        if key in seen:
            first = seen[key]
            raise fail(f"must be unique ignoring case; arms[{first}] is already "
                        f"named {arms[first].name!r}", at=(i, "name"), value=arm.name)
        seen[key] = i
    return arms
