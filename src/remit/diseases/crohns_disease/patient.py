"""A patient with Crohn's disease, as described to ``remit predict``: CDAI, SES-CD, draining perianal
fistula; their default options, twins and guideline warnings."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from remit.diseases.patient import Match, Outcomes, PatientSpec, field_info
from remit.guidelines import ASTIC, Warning
from remit.schema.types import CHOICE, Range
from remit.therapies import options as opt


class CrohnsPatient(PatientSpec):
    """Crohn's disease: CDAI, SES-CD, draining perianal fistula."""

    DISEASE: ClassVar[str] = "crohns_disease"
    OUTCOMES: ClassVar[Outcomes] = Outcomes("active_disease", "clinical_remission", "cdai", "active_disease")
    EXAMPLE: ClassVar[dict] = {"disease": "crohns_disease", "age": 32, "sex": "male", "disease_duration_years": 10,
                               "cdai": 320, "prior_treatments": ["azathioprine"]}

    disease: Annotated[Literal["crohns_disease"], CHOICE] = "crohns_disease"
    cdai: Annotated[float, Range(0, 600)] = Field(**field_info("CDAI points", "CDAI", 1))
    ses_cd: Annotated[int, Range(0, 56)] | None = Field(default=None, **field_info("SES-CD points", "SES-CD (endoscopy)"))
    perianal_fistula: bool = Field(default=False, **field_info("", "Draining perianal fistula"))

    def options(self) -> list[opt.Option]:
        bg = tuple(self.prior_treatments)
        msc = (opt.msc("msc-local", "MSC, adipose, local injection into the fistula", "adipose", 1.7e6, "local", 1, None,
                       bg or ("azathioprine",), "darvadstrocel-like (ADMIRE-CD)")
               if self.perianal_fistula else
               opt.msc("msc-iv", "MSC, bone marrow, 2e6 cells/kg IV", "bone_marrow", 2.0e6, "intravenous", 1, None, bg))
        return [
            opt.ahsct("ahsct-cy-atg", "aHSCT, Cy 200 mg/kg + ATG, unselected PBSC", opt.MOB_CY4, opt.PBSC, opt.CY_ATG_75,
                      "ASTIC regimen (Hawkey et al. 2015 JAMA 314:2524)"),
            msc,
            opt.conventional("adalimumab", "Adalimumab", ["adalimumab"]),
            opt.conventional("infliximab-aza", "Infliximab + azathioprine", ["infliximab", "azathioprine"]),
        ]

    def population(self) -> dict:
        return {**super().population(), "perianal_disease_fraction": 1.0 if self.perianal_fistula else 0.0,
                "prior_therapy": list(self.prior_treatments)}

    def history_matches(self) -> list[Match]:
        m = [Match("cdai_baseline", self.cdai, 40.0, "CDAI"),
             Match("fistula_baseline", float(self.perianal_fistula), 0.0, "draining fistula", widen=False)]
        if self.ses_cd is not None:
            m.append(Match("ses_cd_baseline", self.ses_cd, max(3.0, 0.3 * self.ses_cd), "SES-CD"))
        return m

    def warnings(self, option_ids: set[str]) -> list[Warning]:
        return [Warning("caution", "aHSCT in refractory Crohn's disease had substantial toxicity (one death among "
                        "the transplanted patients) and did not meet its primary endpoint; the trial authors "
                        "advised against its wide use.", ASTIC)]
