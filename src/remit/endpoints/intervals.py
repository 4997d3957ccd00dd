"""Two-sided 95 % intervals shared by the endpoint kinds (means, proportions, medians)."""

from __future__ import annotations

from typing import Iterable

import numpy as np
from scipy import stats

from remit.endpoints.base import ALPHA, NAN


def mean_t_interval(values: Iterable[float], alpha: float = ALPHA) -> tuple[float, float, float, int]:
    """Mean and Student-t CI of the mean; NaN CI if fewer than 2 values.

    Returns (mean, ci_low, ci_high, n) in the units of ``values``.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return NAN, NAN, NAN, 0
    m = float(x.mean())
    if n < 2:
        return m, NAN, NAN, n
    sem = float(stats.sem(x))
    if sem == 0.0:
        return m, m, m, n
    lo, hi = stats.t.interval(1 - alpha, df=n - 1, loc=m, scale=sem)
    return m, float(lo), float(hi), n


def proportion_ci(k: int, n: int, method: str, alpha: float = ALPHA) -> tuple[float, float, float]:
    """Proportion k/n with a binomial CI (``"wilson"`` or ``"exact"`` = Clopper-Pearson)."""
    if n <= 0:
        return NAN, NAN, NAN
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=1 - alpha, method=method)
    return k / n, float(ci.low), float(ci.high)


def median_order_statistic_ci(values: Iterable[float], alpha: float = ALPHA) -> tuple[float, float, float, int]:
    """Sample median with a distribution-free CI from binomial order statistics.

    The number of observations below the true median is Binomial(n, 1/2);
    the CI is (x_(l), x_(n-l+1)) with l the smallest rank such that
    P(B <= l-1) < alpha/2, so coverage is at least 1 - alpha. NaN bounds
    when n is too small for that coverage (n < 6 at 95 %).
    """
    x = np.sort(np.asarray(values, dtype=float))
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return NAN, NAN, NAN, 0
    med = float(np.median(x))
    # ppf gives the smallest rank k with cdf(k) >= alpha/2, hence cdf(k-1) < alpha/2.
    k = int(stats.binom.ppf(alpha / 2, n, 0.5))
    if k < 1:
        return med, NAN, NAN, n
    return med, float(x[k - 1]), float(x[n - k]), n
