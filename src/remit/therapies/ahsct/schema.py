"""The ``[[arms]]`` table of an aHSCT arm: mobilisation, graft and conditioning (one schema per
regimen, told apart by ``regimen``)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from remit.schema.types import CHOICE, Model, Range, fail, fmt
from remit.therapies.base import ArmBase

__all__ = ["CONDITIONING_SOURCES", "GRAFT_SOURCES", "REGIMENS", "STANDARD_CONDITIONING", "AhsctArm", "BeamAtg",
           "BuCyAtg", "Conditioning", "ConditioningRegimen", "CyAtg", "Graft", "Mobilization", "RituximabAfterGraft",
           "TbiCyAtg"]

GraftSource = Literal["bone_marrow", "peripheral_blood", "cord_blood"]
GRAFT_SOURCES: tuple[str, ...] = get_args(GraftSource)
REGIMENS: tuple[str, ...] = ("cy_atg", "beam_atg", "bu_cy_atg", "tbi_cy_atg")

# The standard protocol of each named regimen: what `conditioning = { regimen = "..." }` means without doses
# (a dose given in the scenario overrides its entry). One table for `remit run`, `remit sweep` (which keeps the
# base arm's ATG dose when it changes the regimen) and the options of `remit predict`.
STANDARD_CONDITIONING: dict[str, dict[str, float]] = {
    "cy_atg": {"cyclophosphamide_mg_per_kg": 200.0, "atg_mg_per_kg": 6.0},
    "beam_atg": {"carmustine_mg_per_m2": 300.0, "etoposide_mg_per_m2": 800.0, "cytarabine_mg_per_m2": 1600.0,
                 "melphalan_mg_per_m2": 140.0, "atg_mg_per_kg": 5.0},
    "bu_cy_atg": {"busulfan_mg_per_kg": 16.0, "cyclophosphamide_mg_per_kg": 120.0, "atg_mg_per_kg": 6.0},
    "tbi_cy_atg": {"tbi_gy": 12.0, "cyclophosphamide_mg_per_kg": 120.0, "atg_mg_per_kg": 6.0},
}
CONDITIONING_SOURCES: dict[str, str] = {
    "cy_atg": "Cy 200 mg/kg + rabbit ATG 6 mg/kg: MIST, Burt et al. 2019 JAMA 321:165",
    "beam_atg": "BEAM: carmustine 300 mg/m2, etoposide 800 mg/m2, cytarabine 1600 mg/m2, melphalan 140 mg/m2 "
                "(Mills et al. 1995 J Clin Oncol 13:588; with ATG as in European MS practice, Mancardi et al. 2015 "
                "Neurology 84:981); rabbit ATG 5 mg/kg (assumption: the dose of remit predict's BEAM-ATG option)",
    "bu_cy_atg": "BuCy2: busulfan 16 mg/kg (oral) + Cy 120 mg/kg (Tutschka et al. 1987 Blood 70:1382), with rabbit "
                 "ATG 6 mg/kg (assumption: the cy_atg dose)",
    "tbi_cy_atg": "Cy/TBI: TBI 12 Gy + Cy 120 mg/kg (the conventional myeloablative doses), with rabbit ATG 6 mg/kg "
                  "(assumption: the cy_atg dose)",
}


class Mobilization(Model):
    """Stem cell mobilisation: cyclophosphamide in g/m2 or in mg/kg (both 0 = G-CSF-only) plus G-CSF."""

    # up to 7 g/m2: the high-dose mobilisation compared with 4 g/m2 in myeloma (Bone Marrow Transplant
    # 2001 27:837); autoimmune aHSCT protocols use 2-4.5 g/m2
    cyclophosphamide_g_per_m2: Annotated[float, Range(0, 7)]
    g_csf: bool
    # protocols that dose by weight, e.g. 50 mg/kg on each of 2 days (Mexican outpatient method,
    # ms-outpatient-cy-rituximab-2019); given as daily doses of at most 50 mg/kg
    cyclophosphamide_mg_per_kg: Annotated[float, Range(0, 200)] = 0.0

    @model_validator(mode="after")
    def _mobilises(self) -> "Mobilization":
        if self.cyclophosphamide_g_per_m2 > 0 and self.cyclophosphamide_mg_per_kg > 0:
            raise fail("must be 0 when cyclophosphamide_g_per_m2 is given (one dose, in one unit)",
                       at=("cyclophosphamide_mg_per_kg",), value=self.cyclophosphamide_mg_per_kg)
        if not self.cyclophosphamide and not self.g_csf:
            raise fail("must be true when no cyclophosphamide is given "
                        "(otherwise nothing mobilises the stem cells)",
                        at=("g_csf",), value=self.g_csf)
        return self

    @property
    def cyclophosphamide(self) -> bool:
        return self.cyclophosphamide_g_per_m2 > 0 or self.cyclophosphamide_mg_per_kg > 0


class Graft(Model):
    """The autologous graft: source, CD34+ cell dose in cells/kg (1e4..1e8), selection."""

    source: Annotated[GraftSource, CHOICE]
    cd34_per_kg: Annotated[float, Range(1e4, 1e8)]
    cd34_selection: bool = False


_AtgMgPerKg = Annotated[float, Range(0, 15)]
_CyMgPerKg = Annotated[float, Range(0, 260)]


class ConditioningRegimen(Model):
    """Base of the conditioning regimens: a dose left out takes the regimen's standard protocol
    (``STANDARD_CONDITIONING``, with its sources); the resolved scenario (``spec.toml``) lists every dose.

    Every regimen may add the components below (0 = not given; total doses, the schedule is
    :mod:`remit.therapies.ahsct.plan`'s): horse ATG instead of or beside rabbit ATG (a regimen given
    horse ATG and no rabbit ATG dose gets none of the standard rabbit dose), rituximab, fludarabine and
    methylprednisolone."""

    # horse ATG: 10-40 mg/kg/day for up to 14 days in its labelled uses (ATGAM prescribing information)
    equine_atg_mg_per_kg: Annotated[float, Range(0, 200)] = 0.0
    # flat dose (Burt et al. 2018 Bone Marrow Transplant, sle-burt-2018-5y: 1000 mg)
    rituximab_mg: Annotated[float, Range(0, 2000)] = 0.0
    # reduced-intensity regimens give 25-40 mg/m2/day for 3-5 days (90-200 mg/m2)
    fludarabine_mg_per_m2: Annotated[float, Range(0, 250)] = 0.0
    # premedication of ATG: 1 g before each ATG dose in Burt's protocols (up to 5 g)
    methylprednisolone_mg: Annotated[float, Range(0, 10000)] = 0.0

    @classmethod
    def _prepare(cls, data: dict) -> dict:
        regimen = data.get("regimen", cls.model_fields["regimen"].default)
        standard = dict(STANDARD_CONDITIONING.get(regimen, {}))
        if data.get("equine_atg_mg_per_kg") and "atg_mg_per_kg" not in data:
            standard["atg_mg_per_kg"] = 0.0  # horse ATG replaces the standard rabbit ATG
        return {**standard, **data}

    def doses(self) -> dict[str, float]:
        """Drug doses keyed by field name (units in the name: mg, mg/kg, mg/m2, Gy): the regimen's own and
        the added components that are given (TBI organ doses are :meth:`TbiCyAtg.organ_gy`)."""
        added = ConditioningRegimen.model_fields
        return {k: float(v) for k, v in self
                if k not in ("regimen", "tbi_lung_gy", "tbi_kidney_gy") and (k not in added or v > 0)}


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
    """Total body irradiation (Gy) + cyclophosphamide (mg/kg) + ATG (mg/kg); the lungs and kidneys may
    be shielded to a lower dose (Gy; left out: the whole-body dose)."""

    regimen: Literal["tbi_cy_atg"] = "tbi_cy_atg"
    tbi_gy: Annotated[float, Range(0, 14)]
    cyclophosphamide_mg_per_kg: _CyMgPerKg
    atg_mg_per_kg: _AtgMgPerKg
    tbi_lung_gy: Annotated[float, Range(0, 14)] | None = None
    tbi_kidney_gy: Annotated[float, Range(0, 14)] | None = None

    @model_validator(mode="after")
    def _shielded(self) -> "TbiCyAtg":
        for organ in ("tbi_lung_gy", "tbi_kidney_gy"):
            dose = getattr(self, organ)
            if dose is not None and dose > self.tbi_gy:
                raise fail(f"must be between 0 and {fmt(self.tbi_gy)} Gy: shielding lowers an organ's dose "
                           "below the whole-body dose (tbi_gy)", at=(organ,), value=dose)
        return self

    def organ_gy(self, organ: str) -> float:
        """The dose the ``organ`` ("lung" or "kidney") receives, Gy."""
        dose = getattr(self, f"tbi_{organ}_gy")
        return self.tbi_gy if dose is None else dose


Conditioning = Annotated[CyAtg | BeamAtg | BuCyAtg | TbiCyAtg, Field(discriminator="regimen")]


class RituximabAfterGraft(Model):
    """Rituximab after the graft: a first dose (mg/m2) on ``day`` (days after the graft), then optional
    flat maintenance doses (mg) every ``maintenance_every_months`` until ``maintenance_months`` after it
    (Mexican outpatient method: 375 mg/m2 at granulocyte recovery, then 100 mg every 2 months for 12
    months: ms-outpatient-cy-rituximab-2019)."""

    mg_per_m2: Annotated[float, Range(0, 1000)]
    day: Annotated[float, Range(0, 100)]
    maintenance_mg: Annotated[float, Range(0, 1000)] = 0.0
    maintenance_every_months: Annotated[float, Range(1, 12)] = 2.0
    maintenance_months: Annotated[float, Range(0, 36)] = 12.0


class AhsctArm(ArmBase):
    """Autologous HSCT: mobilisation, graft on ``graft_day`` (days after mobilisation starts; conditioning
    ends the day before), conditioning, optional G-CSF and rituximab after the graft."""

    therapy: Literal["ahsct"] = "ahsct"
    mobilization: Mobilization
    graft: Graft
    conditioning: Conditioning
    g_csf_after_graft: bool = False
    # MIST: transplant about a month after mobilisation (Burt et al. 2019 JAMA 321:165); the Mexican
    # outpatient method infuses non-frozen cells 11 days after mobilisation starts
    graft_day: Annotated[float, Range(10, 120)] = 35.0
    rituximab_after_graft: RituximabAfterGraft | None = None
