"""Hierarchical composite endpoints: the win ratio and the Finkelstein-Schoenfeld global rank test.

A scenario declares the hierarchy, most important first, e.g. death > organ failure > FVC >
mRSS. Every patient is compared with every other: two patients are compared on the first level,
and only if that comparison is a tie on the next, and so on (Finkelstein & Schoenfeld 1999 Stat
Med 18:1341; the win ratio: Pocock et al. 2012 Eur Heart J 33:176).

- A **time-to-event level** (``death`` or a Survival endpoint of the disease) is compared over
  the follow-up both patients share: the one whose event came first within it loses; no event
  within it (or events on the same day) is a tie.
- A **score level** (a Score endpoint) is compared on the change from baseline at the last report
  visit at which both patients have a value: the change that is better by more than ``margin``
  (in the score's units; lower is better unless the score says otherwise) wins; no common visit,
  or a smaller difference, is a tie.

Rows, for each arm against the control: ``{name}_win_ratio`` (wins / losses of the arm's
patients over all its pairs with the control's, with the large-sample 95% CI of the log win ratio
from the two-sample U-statistic variance, Bebu & Lachin 2016 Biostatistics 17:178),
``{name}_net_benefit`` (wins minus losses over all pairs, the same variance) and
``{name}_fs_p`` (two-sided p of the Finkelstein-Schoenfeld statistic: the sum over the arm's
patients of their pooled-sample scores, wins minus losses against every patient of both arms, with
its permutation variance). The comparisons are O(n^2): a block of patients at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from remit.endpoints.base import ENDPOINT_KINDS, EndpointKind, FigureView, Records, comparison_label, flags, row

BLOCK = 512  # patients compared with everyone at a time (temporaries of BLOCK x n float64)
Z = stats.norm.ppf(0.975)


@dataclass(frozen=True)
class Level:
    """One level of a hierarchy: ``kind`` ``"event"`` (``time_col``, ``event_col``) or ``"score"``
    (outcome rows ``score``, ``lower_is_better``, ``margin``)."""

    name: str
    kind: str
    time_col: str = ""
    event_col: str = ""
    score: str = ""
    lower_is_better: bool = True
    margin: float = 0.0


def level_columns(levels: tuple[Level, ...], records: Records, patients: pd.DataFrame) -> dict[str, np.ndarray]:
    """The per-patient arrays each level compares (first axis: the patients of ``patients``): an
    event level's time and flag, a score level's gain from baseline at each visit after it (a fall
    of a lower-is-better score is a gain)."""
    cols: dict[str, np.ndarray] = {}
    for k, lv in enumerate(levels):
        if lv.kind == "event":
            t = patients[lv.time_col].to_numpy(dtype=float)
            cols[f"t{k}"] = np.where(np.isfinite(t), t, 0.0)
            cols[f"e{k}"] = flags(patients[lv.event_col])
        else:
            wide = records.outcome(lv.score, patients)
            base = wide[0.0].to_numpy(dtype=float) if 0.0 in wide.columns else np.full(len(patients), np.nan)
            change = wide[[c for c in wide.columns if c > 0]].to_numpy(dtype=float) - base[:, None]
            cols[f"g{k}"] = -change if lv.lower_is_better else change
    return cols


class _Data:
    """The patients of one comparison, by their :func:`level_columns`."""

    def __init__(self, levels: tuple[Level, ...], cols: dict[str, np.ndarray]):
        self.levels = levels
        self.cols = [(cols[f"t{k}"], cols[f"e{k}"]) if lv.kind == "event" else (cols[f"g{k}"],)
                     for k, lv in enumerate(levels)]

    def compare(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(len(a), len(b)) int8: +1 where patient a[i] wins against b[j], -1 where it loses, 0 a tie."""
        out = np.zeros((len(a), len(b)), dtype=np.int8)
        open_ = np.ones(out.shape, dtype=bool)
        for lv, col in zip(self.levels, self.cols):
            if not open_.any():
                break
            if lv.kind == "event":
                t, e = col
                shared = np.minimum(t[a][:, None], t[b][None, :])
                ta = np.where(e[a][:, None] & (t[a][:, None] <= shared), t[a][:, None], np.inf)
                tb = np.where(e[b][None, :] & (t[b][None, :] <= shared), t[b][None, :], np.inf)
                # the earlier event loses; no event within the shared follow-up (inf - inf) is a tie
                res = np.where(ta < tb, -1, np.where(tb < ta, 1, 0)).astype(np.int8)
            else:
                (gain,) = col
                res = np.zeros(out.shape, dtype=np.int8)
                seen = np.zeros(out.shape, dtype=bool)
                for v in range(gain.shape[1] - 1, -1, -1):  # the last common visit decides
                    ga, gb = gain[a, v][:, None], gain[b, v][None, :]
                    both = np.isfinite(ga) & np.isfinite(gb) & ~seen
                    d = ga - gb
                    res = np.where(both & (d > lv.margin), 1, np.where(both & (d < -lv.margin), -1, res)).astype(np.int8)
                    seen |= both
            decided = open_ & (res != 0)
            out[decided] = res[decided]
            open_ &= ~decided
        return out


def level_choices(disease) -> dict[str, str]:
    """The levels a composite of ``disease`` can have: name -> ``"event"`` or ``"score"``."""
    out = {"death": "event"}
    for e in disease.endpoints:
        if e.kind in ("survival", "score"):
            out[e.name] = "event" if e.kind == "survival" else "score"
    return out


def compare_groups(data: _Data, treated: np.ndarray, control: np.ndarray) -> dict[str, float]:
    """Every pair of both groups (index arrays into the data) compared once.

    From the treated-control pairs: wins and losses of ``treated`` over ``control``, their
    proportions ``pw``, ``pl`` and U-statistic (co)variances. From all pairs: ``fs_p``, the
    two-sided p of the Finkelstein-Schoenfeld test (U_i = wins - losses of patient i against every
    other patient of both groups; T = sum of U over the treated, Var T = n1 n0 / (N (N - 1)) sum U^2).
    """
    everyone = np.concatenate([treated, control])
    n1, n0 = len(treated), len(control)
    N = n1 + n0
    u = np.zeros(N)
    w_i, l_i = np.zeros(n1), np.zeros(n1)
    w_j, l_j = np.zeros(n0), np.zeros(n0)
    for s in range(0, N, BLOCK):
        c = data.compare(everyone[s:s + BLOCK], everyone)
        u[s:s + BLOCK] = c.sum(axis=1, dtype=np.int64)
        k = min(max(n1 - s, 0), len(c))  # rows of treated patients in this block
        if k:
            tc = c[:k, n1:]
            w_i[s:s + k], l_i[s:s + k] = (tc == 1).sum(axis=1), (tc == -1).sum(axis=1)
            w_j += (tc == 1).sum(axis=0)
            l_j += (tc == -1).sum(axis=0)
    pw, pl = w_i.sum() / (n1 * n0), l_i.sum() / (n1 * n0)
    # Hoeffding decomposition: the variance of a two-sample U-statistic from each sample's projections
    cov = (np.cov(np.vstack([w_i / n0, l_i / n0])) / n1 + np.cov(np.vstack([w_j / n1, l_j / n1])) / n0)
    var_t = n1 * n0 / (N * (N - 1)) * float((u ** 2).sum())
    fs_p = float(2 * stats.norm.sf(abs(u[:n1].sum()) / math.sqrt(var_t))) if var_t > 0 else math.nan
    return {"wins": float(w_i.sum()), "losses": float(l_i.sum()), "pw": float(pw), "pl": float(pl),
            "var_w": float(cov[0, 0]), "var_l": float(cov[1, 1]), "cov": float(cov[0, 1]), "fs_p": fs_p}


@ENDPOINT_KINDS.register("composite")
@dataclass(frozen=True)
class Composite(EndpointKind):
    """A hierarchical composite declared by the scenario (``[[composites]]``): each arm against the
    control by win ratio, net benefit and the Finkelstein-Schoenfeld test."""

    name: str
    label: str
    levels: tuple[Level, ...]
    definition: str = ""

    kind = "composite"
    section = "composite"

    @classmethod
    def declared(cls, name: str, label: str | None, hierarchy: tuple[tuple[str, float], ...], disease) -> "Composite":
        """The composite a scenario declares: ``hierarchy`` (endpoint name, margin) pairs, most important
        first, resolved against the disease's catalog (:func:`level_choices`)."""
        levels = []
        by_name = {e.name: e for e in disease.endpoints}
        for level, margin in hierarchy:
            if level == "death":
                levels.append(Level("death", "event", "follow_up_years", "died"))
            elif by_name[level].kind == "survival":
                e = by_name[level]
                levels.append(Level(level, "event", e.time_col, e.event_col))
            else:
                e = by_name[level]
                levels.append(Level(level, "score", score=e.name, lower_is_better=e.lower_is_better, margin=margin))
        text = " > ".join(n if not m else f"{n} (margin {m:g})" for n, m in hierarchy)
        return cls(name, label or f"Composite ({text})", tuple(levels), f"hierarchy: {text}")
    test_name = "Finkelstein-Schoenfeld test"
    effect_name = "win ratio"
    summary = "hierarchical composite (win ratio, net benefit, Finkelstein-Schoenfeld test)"

    def labels(self) -> dict[str, str]:
        return {f"{self.name}_win_ratio": f"{self.label}: win ratio",
                f"{self.name}_net_benefit": f"{self.label}: net benefit (wins - losses)",
                f"{self.name}_fs_p": f"{self.label}: Finkelstein-Schoenfeld p"}

    def digits(self) -> dict[str, int]:
        return {f"{self.name}_win_ratio": 2, f"{self.name}_net_benefit": 3, f"{self.name}_fs_p": 4}

    def timepoints(self, follow_up_years: float) -> dict[str, float | None]:
        return {f"{self.name}_win_ratio": None}

    def headline(self) -> list[str]:
        return [f"{self.name}_win_ratio", f"{self.name}_fs_p"]

    def rows(self, records: Records) -> list[dict]:
        rows = []
        fu = records.follow_up_years
        control = records.arm(records.control_arm)
        for arm in records.comparisons:
            treated = records.arm(arm)
            if len(treated) == 0 or len(control) == 0:
                continue
            a1, a0 = self.arm_data(records, treated, None), self.arm_data(records, control, None)
            data, i1, i0 = _pooled(self.levels, a1, a0)
            label = comparison_label(arm, records.control_arm)
            n = len(i1) + len(i0)
            r = compare_groups(data, i1, i0)
            rows.append(row(label, f"{self.name}_win_ratio", fu, *_log_ratio_ci(r), n))
            nb = r["pw"] - r["pl"]
            se = math.sqrt(max(r["var_w"] + r["var_l"] - 2 * r["cov"], 0.0))
            rows.append(row(label, f"{self.name}_net_benefit", fu, nb, nb - Z * se, nb + Z * se, n))
            rows.append(row(label, f"{self.name}_fs_p", fu, r["fs_p"], n=n))
        return rows

    def figure(self, view: FigureView):
        from remit.report import plots

        return plots.rate_figure(view.endpoints, f"{self.name}_win_ratio", f"{self.label}: win ratio", view.order,
                                 ylabel="Win ratio (vs control)", per="win ratio")

    def arm_data(self, records: Records, patients: pd.DataFrame, year: int | None) -> dict[str, np.ndarray]:
        return level_columns(self.levels, records, patients)

    def analyse(self, a0: dict, a1: dict) -> tuple[float, float]:
        data, i1, i0 = _pooled(self.levels, a1, a0)
        r = compare_groups(data, i1, i0)
        return (r["wins"] / r["losses"] if r["losses"] else math.nan), r["fs_p"]


def _pooled(levels, a1: dict, a0: dict) -> tuple[_Data, np.ndarray, np.ndarray]:
    """Both arms' level columns in one :class:`_Data` (treated first) and the index of each arm."""
    n1 = len(next(iter(a1.values())))
    n0 = len(next(iter(a0.values())))
    data = _Data(levels, {k: np.concatenate([a1[k], a0[k]]) for k in a1})
    return data, np.arange(n1), np.arange(n1, n1 + n0)


def _log_ratio_ci(r: dict) -> tuple[float, float, float]:
    """Win ratio and its 95% CI by the delta method on log(pw / pl)."""
    pw, pl = r["pw"], r["pl"]
    if pw <= 0 or pl <= 0:
        return (math.nan if pl <= 0 else 0.0), math.nan, math.nan
    var = r["var_w"] / pw**2 + r["var_l"] / pl**2 - 2 * r["cov"] / (pw * pl)
    wr = pw / pl
    if not var > 0:
        return wr, math.nan, math.nan
    se = math.sqrt(var)
    return wr, wr * math.exp(-Z * se), wr * math.exp(Z * se)
