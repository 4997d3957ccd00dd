"""Predictive intervals: what the model's parameter uncertainty means for every endpoint of a trial.

A trial's ``ci_low``/``ci_high`` is the sampling interval of its virtual patients: with
thousands of them it is narrow, and silent about what remit does not know about the
parameters. ``remit run --posterior-draws K`` adds, for every endpoint row, a 90% predictive
interval ``pi_low``/``pi_high`` from that parameter uncertainty, and with ``--trial-size T`` the
interval ``trial_pi_low``/``trial_pi_high`` a real trial of ``T`` patients per arm would see
(parameter uncertainty plus its finite-sample noise).

How an interval is estimated
----------------------------

1. **Draws.** ``K`` sets of typical parameter values come from the disease's
   :class:`remit.uncertainty.ParameterSource` (:func:`default_parameter_source`: the shipped
   calibration's posterior for the calibrated quantities and the priors with 0.5 x their
   between-patient spread for every other varying parameter; the priors alone for a disease
   without a shipped calibration). Parameters the scenario sets in ``[model.parameters]`` stay
   as set.
2. **The cohort spread over the draws.** Draw ``g`` gets its own trial: the scenario with the
   draw's typical values, ``n = max(ceil(N / K), MIN_PATIENTS_PER_DRAW)`` patients per arm (``N`` the
   scenario's) and its own seed, enrolled and simulated exactly as the trial itself, so that
   enrolment selects its patients under the draw's parameters. The draws together simulate
   about as many patients as the trial, so a run with intervals takes about twice as long (more
   below ``MIN_PATIENTS_PER_DRAW x K`` patients per arm).
3. **Between-draw variance.** For each endpoint row the ``K`` draw estimates ``y_g`` scatter by
   the parameter effect and by their own sampling noise. The noise variance of a draw with
   ``n_g`` patients in the row is taken from the trial's own interval, ``se^2 N_row / n_g``
   (``se = (ci_high - ci_low) / (2 x 1.96)``, on the log scale for ratios of two arms), and
   the parameter variance is the method-of-moments (DerSimonian-Laird, equal weights) estimate
   ``tau^2 = max(0, var(y_g) - mean(se_g^2))`` (DerSimonian & Laird 1986 Control Clin Trials 7:177).
4. **Intervals.** Centred on the trial's estimate, with Student's t on ``K - 1`` degrees of
   freedom for the uncertainty of ``tau^2`` itself (as the prediction interval of a random-effects
   meta-analysis; Higgins, Thompson & Spiegelhalter 2009 J R Stat Soc A 172:137):
   ``pi = estimate +- t(0.95, K-1) sqrt(tau^2 + se^2)`` (parameter uncertainty and the simulation's own
   Monte Carlo error) and ``trial_pi = estimate +- t(0.95, K-1) sqrt(tau^2 + se^2 + se^2 N / T)``; back on
   the natural scale for ratios, clipped to [0, 1] for proportions and at 0 for rates, counts per
   patient and medians. p-values and rows without a
   sampling interval (a median not reached) get none.

The draws' sampling noise is removed only on average, so with few patients per draw ``tau`` is
itself noisy (``var(y_g)`` has ``K - 1`` degrees of freedom); the t quantile widens the interval
for that. Draws whose estimate is missing (not estimable at their size) are left out of that row;
fewer than 3 left give no interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["LEVEL", "MIN_PATIENTS_PER_DRAW", "Draws", "PredictiveIntervals", "draw_specs", "intervals",
           "patients_per_draw"]

LEVEL = 0.90  # two-sided level of every predictive interval
MIN_PATIENTS_PER_DRAW = 10  # per arm: fewer leaves most endpoints of a draw not estimable
_Z95 = float(stats.norm.ppf(0.975))  # the trial's own intervals are 95%
KEY = ["group", "arm", "endpoint", "timepoint_years"]
# rows whose estimate is a ratio of two arms (hazard, rate and odds ratios, relative risks): log scale
RATIO_SUFFIXES = ("_ratio", "_relative_risk")
# rows that cannot be negative besides proportions (event rates, counts per patient, medians): clipped at 0
NONNEGATIVE = (("annualized_",), ("_per_patient", "_median", "_median_years", "_rate"))
# what intervals() keeps per row, so that an interval at any other trial size can be computed later
PARTS = ["pi_scale", "pi_tau", "pi_se", "pi_draws"]


def patients_per_draw(patients_per_arm: int, draws: int) -> int:
    """Patients per arm of each draw's trial: the trial's spread over the draws, at least
    :data:`MIN_PATIENTS_PER_DRAW`."""
    return max(math.ceil(patients_per_arm / draws), MIN_PATIENTS_PER_DRAW)


def draw_seed(seed: int, g: int) -> int:
    """The seed of draw ``g``'s trial: its own, so that the draws are independent samples (the
    between-draw variance estimate assumes it)."""
    return int(np.random.SeedSequence([seed, 0x5052, g]).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass
class Draws:
    """The trials of ``K`` parameter draws of one scenario."""

    specs: list  # one TrialSpec per draw
    source: str  # which uncertainty the draws express (ParameterSource.label)
    patients_per_arm: int  # of each draw's trial


def draw_specs(spec, draws: int, source=None) -> Draws:
    """The scenario of each of ``draws`` parameter draws from ``source`` (a :class:`remit.uncertainty.ParameterSource`;
    default :func:`remit.uncertainty.default_parameter_source`, the priors for ``[model] defaults = "prior"``).

    Parameters the scenario sets stay as set, except, with a ``source`` given, those it draws from its
    posterior (``source.drawn``): there the scenario holds that posterior's point (cross-validation)."""
    from remit.diseases import model_for
    from remit.uncertainty import PriorUncertainty, default_parameter_source

    if draws < 2:
        raise ValueError(f"posterior draws = {draws}: at least 2 are needed for an interval (0 turns them off)")
    model = model_for(spec)
    own = set(spec.model.parameters)  # set by the scenario: not uncertain
    if source is None:
        source = (default_parameter_source(spec.trial.disease) if spec.model.defaults == "calibrated"
                  else PriorUncertainty())
    else:
        own -= set(source.drawn)
    typical = source.typical_values(model, draws, spec.trial.seed)
    n = patients_per_draw(spec.trial.patients_per_arm, draws)
    specs = []
    for g in range(draws):
        moved = {p.name: {"value": float(typical[g, j])} for j, p in enumerate(model.parameters)
                 if p.name not in own and typical[g, j] != p.value}
        specs.append(spec.with_overrides(patients_per_arm=n, seed=draw_seed(spec.trial.seed, g), parameters=moved))
    return Draws(specs, source.label, n)


def _scale(endpoint: str, kinds: dict[str, str]) -> str:
    if endpoint.endswith("_logrank_p"):
        return "none"
    if endpoint.endswith(RATIO_SUFFIXES):
        return "log"
    if kinds.get(endpoint) == "proportion":
        return "proportion"
    if endpoint.startswith(NONNEGATIVE[0]) or endpoint.endswith(NONNEGATIVE[1]):
        return "nonnegative"
    return "linear"


def _work(x: np.ndarray, scale: str) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.where(x > 0, x, np.nan)) if scale == "log" else np.asarray(x, float)


def _back(x: float, scale: str) -> float:
    if scale == "log":
        return math.exp(x)
    if scale == "proportion":
        return min(max(x, 0.0), 1.0)
    return max(x, 0.0) if scale == "nonnegative" else x


@dataclass
class PredictiveIntervals:
    """Per endpoint row: the parts of its interval (:data:`PARTS`), from which the interval at any
    trial size follows (:meth:`interval`)."""

    table: pd.DataFrame  # KEY + estimate + PARTS
    draws: int
    patients_per_arm: int  # of the trial the intervals are centred on
    level: float = LEVEL
    info: dict = field(default_factory=dict)

    def interval(self, row, trial_size: float | None = None) -> tuple[float, float]:
        """``(low, high)`` of one row (a mapping with ``estimate`` and :data:`PARTS`): parameter
        uncertainty, plus the noise of a trial of ``trial_size`` patients per arm when given."""
        est, scale, tau, se = float(row["estimate"]), row["pi_scale"], float(row["pi_tau"]), float(row["pi_se"])
        if scale == "none" or not all(math.isfinite(x) for x in (est, tau, se)):
            return math.nan, math.nan
        var = tau**2 + se**2
        if trial_size is not None:
            var += se**2 * self.patients_per_arm / trial_size
        centre = float(_work(np.array([est]), scale)[0])
        if not math.isfinite(centre):
            return math.nan, math.nan
        half = float(stats.t.ppf(0.5 + self.level / 2, int(row["pi_draws"]) - 1)) * math.sqrt(var)
        return _back(centre - half, scale), _back(centre + half, scale)

    def apply(self, endpoints: pd.DataFrame, trial_size: int | None = None) -> pd.DataFrame:
        """``endpoints`` (with or without a ``group`` column) with ``pi_low``/``pi_high`` and, for
        ``trial_size``, ``trial_pi_low``/``trial_pi_high`` added."""
        key = KEY if "group" in endpoints.columns else KEY[1:]
        parts = self.table if "group" in endpoints.columns else self.table[self.table["group"] == ""]
        rows = endpoints[key + ["estimate"]].merge(parts[key + PARTS], on=key, how="left").to_dict("records")
        out = endpoints.copy()
        lo_hi = np.array([self.interval(r) for r in rows], dtype=float).reshape(-1, 2)
        out["pi_low"], out["pi_high"] = lo_hi[:, 0], lo_hi[:, 1]
        if trial_size is not None:
            lo_hi = np.array([self.interval(r, trial_size) for r in rows], dtype=float).reshape(-1, 2)
            out["trial_pi_low"], out["trial_pi_high"] = lo_hi[:, 0], lo_hi[:, 1]
        return out


def intervals(trial: pd.DataFrame, draws: list[pd.DataFrame], patients_per_arm: int, kinds: dict[str, str],
              level: float = LEVEL) -> PredictiveIntervals:
    """The interval parts of every row of ``trial`` (an endpoint table with a ``group`` column,
    :attr:`remit.trial.TrialResult.all_endpoints`) from the same table of each draw's trial.

    ``kinds``: endpoint row name -> ``proportion``/``mean``/``other`` (``EndpointKind.row_types``).
    """
    K = len(draws)
    table = trial[KEY + ["estimate", "ci_low", "ci_high", "n"]].reset_index(drop=True)
    y = np.full((len(table), K), np.nan)
    n = np.full((len(table), K), np.nan)
    index = pd.MultiIndex.from_frame(table[KEY])
    for g, d in enumerate(draws):
        d = d.set_index(KEY)
        d = d[~d.index.duplicated()].reindex(index)
        y[:, g], n[:, g] = d["estimate"].to_numpy(float), d["n"].to_numpy(float)
    scales, taus, ses, used = [], np.full(len(table), np.nan), np.full(len(table), np.nan), np.zeros(len(table), int)
    for i, r in enumerate(table.itertuples(index=False)):
        scale = _scale(str(r.endpoint), kinds)
        scales.append(scale)
        if scale == "none":
            continue
        lo, hi = _work(np.array([r.ci_low, r.ci_high], float), scale)
        se = (hi - lo) / (2 * _Z95)
        yi = _work(y[i], scale)
        ok = np.isfinite(yi) & (n[i] > 0)
        if not (math.isfinite(se) and ok.sum() >= 3 and r.n > 0):
            continue
        noise = se**2 * r.n / n[i, ok]  # each draw's sampling variance, scaled from the trial's
        taus[i] = math.sqrt(max(0.0, float(np.var(yi[ok], ddof=1)) - float(noise.mean())))
        ses[i], used[i] = se, ok.sum()
    table["pi_scale"], table["pi_tau"], table["pi_se"] = scales, taus, ses
    table["pi_draws"] = used
    return PredictiveIntervals(table.drop(columns=["ci_low", "ci_high", "n"]), K, patients_per_arm, level)
