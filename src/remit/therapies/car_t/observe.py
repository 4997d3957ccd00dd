"""What a trial observes of CAR-T: cytokine release syndrome and ICANS, and the end of B-cell aplasia.

CRS and ICANS are graded on the ASTCT consensus scale (0 = none, 1-4; Lee et al. 2019 Biol Blood
Marrow Transplant 25:625). Their severity rises with the CAR-T expansion (Hay et al. 2017 Blood
130:2295), so each patient's CRS response is the log of the peak blood CAR+ level in the first
four weeks, relative to ``crs_peak_half``, plus a patient effect (``crs_sd``): any grade above 0,
each further grade ``crs_grade_step`` higher. ICANS follows CRS (Gust et al. 2017 Cancer Discov
7:1404): the same response with its own patient effect, graded from ``icans_offset`` higher.

B-cell aplasia: circulating CD19+ B cells below ``APLASIA_PER_UL``; their return, the first day
after aplasia on which they are back at or above ``RETURN_PER_UL`` (days after the infusion;
NaN while aplastic at the end of follow-up or never aplastic).

Serum IgG (g/L, every arm): ``igg_normal`` times the long-lived plasma cells' share
(``igg_long_lived_share``, following the model's ``vaccine_ab``) plus the short-lived share, made
from B cells (``b_cells`` relative to ``b_cells_normal``) and cleared with the IgG half-life
(``k_autoab``); its lowest value from the start of treatment to death or the end of follow-up,
and hypogammaglobulinaemia, that nadir below ``HYPOGAMMA_G_PER_L``.
"""

from __future__ import annotations

import numpy as np

from remit.random import normals, uniforms
from remit.therapies.base import THERAPY_COUNTERS

C_CRS = THERAPY_COUNTERS  # + 0: CRS patient effect, + 1: ICANS patient effect
PEAK_WINDOW_DAYS = 28.0  # CRS and ICANS occur within the first weeks (median onset about day 2-7)
APLASIA_PER_UL = 1.0  # modelling assumption: below the usual flow-cytometry detection of blood B cells
RETURN_PER_UL = 5.0  # modelling assumption: B cells "reappeared" once reliably counted again
MAX_GRADE = 4  # grade 5 (death) is not drawn here
# serum IgG below which immunoglobulin replacement is considered in secondary immunodeficiency with
# infections (EMA core SmPC for human normal immunoglobulin, EMA/CHMP/BPWP/94038/2007)
HYPOGAMMA_G_PER_L = 4.0


def grades(response: np.ndarray, step: np.ndarray) -> np.ndarray:
    """ASTCT grade 0-4 of a log-scale response: 0 below 0, then one grade per ``step``."""
    return np.where(response > 0, np.minimum(1 + np.floor(response / step), MAX_GRADE), 0).astype(np.int64)


def car_t_observations(ctx, infusion_day: float | None) -> dict[str, np.ndarray]:
    """``crs_grade``, ``icans_grade`` (0-4), ``b_cell_return_day`` (days after the infusion), ``igg_nadir``
    (g/L) and ``hypogammaglobulinaemia`` of one chunk; an arm without CAR-T (``infusion_day`` None) has grade 0
    and no return day, and its serum IgG is observed the same way."""
    n = ctx.n
    nadir = igg_nadir(ctx)
    humoral = {"igg_nadir": nadir, "hypogammaglobulinaemia": nadir < HYPOGAMMA_G_PER_L}
    if infusion_day is None:
        zero = np.zeros(n, dtype=np.int64)
        return {"crs_grade": zero, "icans_grade": zero.copy(), "b_cell_return_day": np.full(n, np.nan), **humoral}
    t = ctx.t
    car = ctx.state("car_eff") + ctx.state("car_mem")
    window = (t >= infusion_day) & (t <= infusion_day + PEAK_WINDOW_DAYS)
    peak = car[:, window].max(axis=1)
    p = ctx.params
    z = normals(uniforms(ctx.keys, C_CRS, 2))
    base = np.log(np.maximum(peak, 1e-12) / p["crs_peak_half"])
    response = base + p["crs_sd"] * z[:, 0]
    icans = base - p["icans_offset"] + p["crs_sd"] * (z[:, 0] + z[:, 1]) / np.sqrt(2.0)  # correlated 0.5 with CRS
    alive = ctx.alive_at(infusion_day)
    crs_grade = np.where(alive, grades(response, p["crs_grade_step"]), 0)
    icans_grade = np.where(alive, grades(icans, p["crs_grade_step"]), 0)
    return {"crs_grade": crs_grade, "icans_grade": icans_grade,
            "b_cell_return_day": b_cell_return_day(t, ctx.state("b_cells"), infusion_day, ctx), **humoral}


def serum_igg(t: np.ndarray, b_cells: np.ndarray, vaccine_ab: np.ndarray, p) -> np.ndarray:
    """(n, T) serum IgG (g/L) on the output grid ``t`` (days): the long-lived share follows ``vaccine_ab``,
    the short-lived share the relative B-cell count through first-order IgG clearance (exact for a B-cell
    count held at its end-of-interval value over each output interval; at steady state at the first time)."""
    made = b_cells / p["b_cells_normal"][:, None]
    decay = np.exp(-p["k_autoab"][:, None] * np.diff(t)[None, :])
    short = np.empty_like(made)
    short[:, 0] = made[:, 0]
    for k in range(1, t.size):
        short[:, k] = made[:, k] + (short[:, k - 1] - made[:, k]) * decay[:, k - 1]
    share = p["igg_long_lived_share"][:, None]
    return p["igg_normal"][:, None] * (share * vaccine_ab + (1 - share) * short)


def igg_nadir(ctx) -> np.ndarray:
    """Each patient's lowest serum IgG (g/L) from day 0 to death or the end of follow-up."""
    t = ctx.t
    igg = serum_igg(t, ctx.state("b_cells"), ctx.state("vaccine_ab"), ctx.params)
    end = np.where(ctx.died, ctx.death_days, np.inf)
    counted = (t[None, :] >= 0) & (t[None, :] <= end[:, None])
    return np.where(counted, igg, np.inf).min(axis=1)


def b_cell_return_day(t: np.ndarray, b_cells: np.ndarray, start: float, ctx) -> np.ndarray:
    """Days after ``start`` of the first output time after aplasia with B cells >= RETURN_PER_UL, while alive."""
    after = t >= start
    tt, b = t[after], b_cells[:, after]
    aplastic = np.maximum.accumulate(b < APLASIA_PER_UL, axis=1)
    back = aplastic & (b >= RETURN_PER_UL)
    has = back.any(axis=1)
    day = np.where(has, tt[np.argmax(back, axis=1)] - start, np.nan)
    dead = ctx.died & (ctx.death_days < start + np.nan_to_num(day, nan=np.inf))
    return np.where(dead, np.nan, day)
