"""Fast paths that must give exactly the numbers of the plain ones they replace (issue 5, scale).

Each compares bit for bit: the vectorised SeedSequence keys, the Poisson inverse CDF asked only
where a count can be above 0, single-cell uniforms, the sparse relapse sums, and the streamed
visits.parquet with its chunk-wise report summaries.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from remit.diseases.multiple_sclerosis.sparse_sum import sparse_row_sums
from remit.diseases.multiple_sclerosis.clinical import RelapseHistory, relapse_disability
from remit.random import patient_keys, poisson, uniforms, uniforms_at


@pytest.mark.parametrize("seed", [0, 1, 2019, 20250501, 2**32 + 7, 2**70 + 3, 2**200 + 5])
@pytest.mark.parametrize("purpose", [0, 2])
def test_patient_keys_equal_numpy_seedsequence(seed, purpose):
    rng = np.random.default_rng(seed % 1000)
    index = np.concatenate([np.arange(300), rng.integers(0, 2**32, 200), [2**32 - 1, 2**32, 2**40 + 3]])
    expected = np.array([np.random.SeedSequence(seed, spawn_key=(purpose, int(i))).generate_state(2, np.uint64)
                         for i in index])
    assert np.array_equal(patient_keys(seed, purpose, index), expected)


def _poisson_reference(u, mu):
    mu = np.maximum(mu, 0.0)
    return np.where(mu > 0, np.nan_to_num(stats.poisson.ppf(u, mu)), 0.0)


@pytest.mark.parametrize("scale", [1e-300, 1e-9, 1e-3, 0.05, 0.5, 3.0, 30.0, 300.0])
def test_poisson_equals_scipy_ppf(scale):
    rng = np.random.default_rng(7)
    mu = rng.exponential(scale, 200_000)
    mu[::7], mu[::11] = 0.0, -1.0
    u = uniforms(patient_keys(5, 2, np.arange(200)), 0, 1000).ravel()
    assert np.array_equal(poisson(u, mu), _poisson_reference(u, mu))
    p0 = np.exp(-np.maximum(mu, 0))
    for edge in (p0 * (1 + rng.uniform(-1e-8, 1e-8, mu.size)), np.nextafter(p0, 0), np.nextafter(p0, 1)):
        edge = np.clip(edge, 0.0, 1 - 1e-16)
        assert np.array_equal(poisson(edge, mu), _poisson_reference(edge, mu))


def test_poisson_broadcasts_like_scipy():
    u = uniforms(patient_keys(1, 2, np.arange(50)), 0, 30)
    mu = np.linspace(0, 2, 50)[:, None]
    assert np.array_equal(poisson(u, mu), _poisson_reference(u, mu))
    assert np.array_equal(poisson(u[:, 0], mu[:, 0]), _poisson_reference(u[:, 0], mu[:, 0]))


def test_uniforms_at_are_the_cells_of_uniforms():
    keys = patient_keys(3, 1, np.arange(40))
    full = uniforms(keys, 1000 + 3 * np.arange(25, dtype=np.uint64))
    rows, cols = np.nonzero(np.random.default_rng(0).random(full.shape) < 0.3)
    assert np.array_equal(uniforms_at(keys[rows], 1000 + 3 * cols.astype(np.uint64)), full[rows, cols])


@pytest.mark.parametrize("length", [1, 5, 8, 9, 100, 128, 129, 200, 410, 1000, 5000])
def test_sparse_row_sums_equal_numpy_sum(length):
    rng = np.random.default_rng(length)
    n, v = 300, 3
    dense = rng.standard_normal((n, v, length)) * np.exp(rng.uniform(-20, 20, (n, v, length)))
    dense *= rng.random((n, 1, length)) >= 0.7
    rows, cells = np.nonzero((dense != 0).any(axis=1))
    terms = dense[rows, :, cells]
    assert np.array_equal(sparse_row_sums(n, length, rows, cells, terms), dense.sum(axis=2))


def _relapse_disability_dense(at, hist, tau_days):
    dt = at[:, :, None] - hist.t[:, None, :]
    before = dt >= 0
    acute = (hist.deficit - hist.residual)[:, None, :] * np.exp(-np.where(before, dt, 0.0) / tau_days[:, None, None])
    return np.sum(np.where(before, hist.residual[:, None, :] + acute, 0.0), axis=2)


@pytest.mark.parametrize("k,v,p", [(410, 21, 0.01), (410, 21, 0.3), (13, 21, 0.3), (181, 1, 0.05), (1, 21, 1.0)])
def test_relapse_disability_equals_dense_sum(k, v, p):
    rng = np.random.default_rng(k * 100 + v)
    n = 500
    t = np.sort(rng.uniform(-400, 1900, (n, k)), axis=1)
    count = (rng.random((n, k)) < p) * rng.integers(1, 4, (n, k))
    deficit = np.where(count > 0, rng.gamma(2, 0.5, (n, k)), 0.0)
    hist = RelapseHistory(t, deficit, deficit * rng.random((n, k)), count)
    at = np.broadcast_to(np.sort(rng.uniform(-30, 1830, v)), (n, v))
    tau = rng.uniform(10, 90, n)
    assert np.array_equal(relapse_disability(at, hist, tau), _relapse_disability_dense(at, hist, tau))


@pytest.mark.slow
def test_streamed_visits_parquet_equals_whole_table(tmp_path):
    """More rows than one Parquet row group, across chunk files: same bytes and same report summaries."""
    from remit.report.plots import visit_summary
    from remit.store import write_parquet
    from remit.stream import ROW_GROUP, VisitChunks

    rng = np.random.default_rng(1)
    n_arms, chunk, per_arm, visits = 2, 2500, 26_000, 21
    chunks = tmp_path / "chunks"
    chunks.mkdir()
    keys, frames = [], []
    for a in range(n_arms):
        ids = np.arange(a, per_arm * n_arms, n_arms)
        for start in range(0, per_arm, chunk):
            pid = ids[start:start + chunk]
            df = pd.DataFrame({"patient_id": np.repeat(pid, visits), "arm": ["aHSCT", "DMT"][a],
                               "t_years": np.tile(np.arange(visits) / 4, pid.size),
                               "edss": np.round(rng.uniform(0, 7, pid.size * visits) * 2) / 2,
                               "cd4": rng.lognormal(6, 0.5, pid.size * visits)})
            df.loc[rng.random(len(df)) < 0.02, ["edss", "cd4"]] = np.nan
            key = f"arm{a:02d}-{start:09d}"
            write_parquet(df, chunks / f"{key}.visits.parquet")
            keys.append(key)
            frames.append(df)
    whole = pd.concat([frames[i] for i in np.argsort(keys)], ignore_index=True)
    whole = whole.sort_values(["patient_id", "t_years"], kind="stable").reset_index(drop=True)
    assert len(whole) > ROW_GROUP
    write_parquet(whole, tmp_path / "whole.parquet")
    streamed = VisitChunks(chunks, keys)
    summaries = streamed.write_parquet(tmp_path / "streamed.parquet", summary_columns=["edss", "cd4"])
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(tmp_path / "streamed.parquet") == digest(tmp_path / "whole.parquet")
    for column in ("edss", "cd4"):
        pd.testing.assert_frame_equal(summaries.summary(column), visit_summary(whole, column), check_exact=True)
    pd.testing.assert_frame_equal(streamed.frame(), whole, check_exact=True)
