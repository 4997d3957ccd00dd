"""A patient with systemic lupus erythematosus, as described to ``remit predict``: SLEDAI-2K,
nephritis, proteinuria; their default options, twins and guideline warnings."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from remit.diseases.patient import Match, Outcomes, PatientSpec, field_info
from remit.guidelines import CAR_T_SERIES, EBMT_2012, EBMT_900, Warning
from remit.schema.types import CHOICE, Range
from remit.therapies import options as opt


class LupusPatient(PatientSpec):
    """Systemic lupus erythematosus: SLEDAI-2K, nephritis, proteinuria."""

    DISEASE: ClassVar[str] = "lupus"
    OUTCOMES: ClassVar[Outcomes] = Outcomes("disease_free", "remission", "sledai", "disease_free")
    EXAMPLE: ClassVar[dict] = {"disease": "lupus", "age": 30, "sex": "female", "disease_duration_years": 5, "sledai": 12,
                               "nephritis": True, "proteinuria_g_per_day": 1.5,
                               "prior_treatments": ["prednisone", "mycophenolate"]}

    disease: Annotated[Literal["lupus"], CHOICE] = "lupus"
    sledai: Annotated[float, Range(0, 105)] = Field(**field_info("SLEDAI-2K points", "SLEDAI-2K", 1))
    nephritis: bool = Field(default=False, **field_info("", "Lupus nephritis"))
    proteinuria_g_per_day: Annotated[float, Range(0, 20)] = Field(**field_info("g/day", "24-h proteinuria", 0.1))

    def options(self) -> list[opt.Option]:
        bg = tuple(self.prior_treatments)
        return [
            opt.ahsct("ahsct-cy-atg", "aHSCT, Cy 200 mg/kg + ATG, unselected PBSC", opt.MOB_CY2, opt.PBSC, opt.CY_ATG),
            opt.msc("msc-iv", "MSC, umbilical cord, 1e6 cells/kg IV x2", "umbilical_cord", 1.0e6, "intravenous", 2, 7.0,
                    bg or ("prednisone",)),
            opt.cd19_car_t(),
            opt.conventional("cyclophosphamide-iv", "IV cyclophosphamide + prednisone", ["cyclophosphamide_iv", "prednisone"]),
            opt.conventional("mycophenolate", "Mycophenolate + prednisone", ["mycophenolate", "prednisone"]),
        ]

    def population(self) -> dict:
        return {**super().population(), "nephritis_fraction": 1.0 if self.nephritis else 0.0,
                "prior_therapy": list(self.prior_treatments)}

    def history_matches(self) -> list[Match]:
        return [Match("sledai_baseline", self.sledai, 3.0, "SLEDAI-2K"),
                Match("proteinuria_baseline", self.proteinuria_g_per_day, max(0.5, 0.4 * self.proteinuria_g_per_day),
                      "proteinuria")]

    def warnings(self, option_ids: set[str]) -> list[Warning]:
        w = [Warning("caution", "Lupus had among the highest transplant-related mortality of the autoimmune "
                     "indications in the EBMT registry; aHSCT is reserved for severe refractory disease.",
                     f"{EBMT_900}; {EBMT_2012}")]
        if self.sledai < 8 or not 18 <= self.age <= 40:
            w.append(Warning("note", f"The published CD19 CAR-T series in lupus treated adults of 18-38 years with "
                             f"active disease (SLEDAI-2K at least 8, median 16) refractory to several "
                             f"immunosuppressants; this patient (age {self.age:g}, SLEDAI-2K {self.sledai:g}) lies "
                             "outside them.", CAR_T_SERIES, ("car_t",)))
        return w
