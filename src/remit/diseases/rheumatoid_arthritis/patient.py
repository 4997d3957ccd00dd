"""A patient with rheumatoid arthritis, as described to ``remit predict``: DAS28-CRP and 28-joint
counts; their default options, twins and guideline warnings."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from remit.diseases.patient import Match, Outcomes, PatientSpec, field_info
from remit.guidelines import EBMT_2012, Warning
from remit.schema.types import CHOICE, Range
from remit.therapies import options as opt


class RaPatient(PatientSpec):
    """Rheumatoid arthritis: DAS28-CRP and 28-joint counts."""

    DISEASE: ClassVar[str] = "rheumatoid_arthritis"
    OUTCOMES: ClassVar[Outcomes] = Outcomes(None, "das28_remission", "das28", "das28_remission")
    EXAMPLE: ClassVar[dict] = {"disease": "rheumatoid_arthritis", "age": 50, "sex": "female",
                               "disease_duration_years": 10, "das28": 5.8, "swollen_joints": 10, "tender_joints": 14,
                               "prior_treatments": ["methotrexate"]}

    disease: Annotated[Literal["rheumatoid_arthritis"], CHOICE] = "rheumatoid_arthritis"
    das28: Annotated[float, Range(0, 10)] = Field(**field_info("DAS28 points", "DAS28-CRP", 0.1))
    swollen_joints: Annotated[int, Range(0, 28)] = Field(**field_info("joints", "Swollen joints (of 28)"))
    tender_joints: Annotated[int, Range(0, 28)] = Field(**field_info("joints", "Tender joints (of 28)"))

    def options(self) -> list[opt.Option]:
        bg = tuple(self.prior_treatments)
        return [
            opt.ahsct("ahsct-cy", "aHSCT, Cy 200 mg/kg + ATG, unselected PBSC", opt.MOB_CY4, opt.PBSC, opt.CY_ATG),
            opt.msc("msc-iv", "MSC, adipose, 2e6 cells/kg IV x3", "adipose", 2.0e6, "intravenous", 3, 7.0,
                    bg or ("methotrexate",), "Cx611-like (Alvaro-Gracia et al. 2017 Ann Rheum Dis 76:196)"),
            opt.conventional("adalimumab-mtx", "Adalimumab + methotrexate", ["adalimumab", "methotrexate"]),
            opt.conventional("methotrexate", "Methotrexate", ["methotrexate"]),
        ]

    def population(self) -> dict:
        return {**super().population(), "prior_therapy": list(self.prior_treatments)}

    def history_matches(self) -> list[Match]:
        return [Match("das28_baseline", self.das28, 0.6, "DAS28-CRP"),
                Match("sjc_baseline", self.swollen_joints, max(3.0, 0.3 * self.swollen_joints), "swollen joints")]

    def warnings(self, option_ids: set[str]) -> list[Warning]:
        return [Warning("note", "With effective biologic and targeted drugs, aHSCT for rheumatoid arthritis is "
                        "considered only for severe disease refractory to them, within clinical studies.", EBMT_2012)]
