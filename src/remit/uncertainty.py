"""Population-level parameter uncertainty: what a prediction (or a design study) treats as unknown
about the model's typical parameter values, as draws of those values.

- :class:`PriorUncertainty`: each varying parameter's typical value moved by ``scale`` times its
  between-patient spread (log scale for lognormal, logit scale for logitnormal priors);
- :class:`CalibratedUncertainty`: the calibrated quantities from the disease's shipped posterior
  sample (resampled by weight), the other varying parameters as in :class:`PriorUncertainty`;
- :class:`PosteriorSample`: any ``(draws, parameters)`` array of typical values.

:func:`shift_typical` moves per-patient parameters drawn around the model's typical values to
another set of typical values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["CalibratedUncertainty", "ParameterSource", "PosteriorSample", "PriorUncertainty",
           "default_parameter_source", "shift_typical", "weighted_quantile"]


class ParameterSource:
    """Population-level (typical) parameter values, one row per draw: what a prediction treats as uncertain."""

    label: str = ""

    @property
    def drawn(self) -> tuple[str, ...]:
        """Parameters drawn from a fitted posterior: they vary between draws even where a scenario sets
        their (point) value."""
        return ()

    def typical_values(self, model, n: int, seed: int) -> np.ndarray:
        raise NotImplementedError


@dataclass
class PriorUncertainty(ParameterSource):
    """Typical values from the model's priors (the default for a disease without a shipped calibration).

    Each parameter that varies between patients (lognormal or logitnormal prior) has its
    typical value moved by ``scale`` x its between-patient spread (log or logit scale), clipped
    to its plausible range; fixed parameters stay. ``anc0`` (which sets the initial state) stays.
    Group ``g`` draws from its own stream ``(seed, GROUP, g)`` at each parameter's name-derived
    counter, so a parameter's draw does not depend on the other parameters or on ``n``.
    """

    scale: float = 0.5
    keep: tuple[str, ...] = ("anc0",)
    label: str = "model priors (typical values of the varying parameters drawn with 0.5 x their between-patient spread)"

    def typical_values(self, model, n, seed):
        from remit.random import GROUP, normals, patient_keys, uniforms

        z = normals(uniforms(patient_keys(seed, GROUP, np.arange(n)), model.parameter_counters))
        out = np.tile([p.value for p in model.parameters], (n, 1)).astype(float)
        for j, p in enumerate(model.parameters):
            if p.prior == "fixed" or p.name in self.keep:
                continue
            if p.prior == "lognormal":
                v = p.value * np.exp(self.scale * p.cv * z[:, j])
            else:
                v = special.expit(special.logit(p.value) + self.scale * p.cv * z[:, j])
            out[:, j] = np.clip(v, p.low, p.high)
        return out


@dataclass
class PosteriorSample(ParameterSource):
    """Draws of the typical parameter values from a calibrated posterior: ``values`` (draws, parameters) in the
    model's parameter order; draws are taken in turn (cycled) for the prediction's groups."""

    values: np.ndarray
    label: str = "calibrated posterior"

    def typical_values(self, model, n, seed):
        v = np.asarray(self.values, dtype=float)
        if v.ndim != 2 or v.shape[1] != len(model.parameters):
            raise ValueError(f"posterior sample must be (draws, {len(model.parameters)})")
        return v[np.arange(n) % v.shape[0]]


@dataclass
class CalibratedUncertainty(ParameterSource):
    """A calibration's posterior for the calibrated quantities (particles of the last ABC-SMC
    generation, resampled by weight), :class:`PriorUncertainty` for the other varying parameters
    (not informed by the calibration). ``posterior``: the ``posterior`` block of a calibration
    result (keys, values, weights); None: the disease's shipped calibration."""

    disease: str
    scale: float = 0.5
    posterior: dict | None = None
    fitted_to: str = ""  # for the label, with ``posterior``: what it was fitted to

    def _posterior(self) -> dict:
        from remit.calibration import shipped

        return self.posterior if self.posterior is not None else shipped.load(self.disease)["posterior"]

    @property
    def drawn(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(k for k in self._posterior()["keys"] if "." not in k)

    @property
    def label(self) -> str:  # type: ignore[override]
        keys = ", ".join(self._posterior()["keys"])
        what = f"calibrated posterior ({self.fitted_to})" if self.fitted_to else "calibrated posterior (remit calibrate)"
        return (f"{what} for {keys}; other varying parameters drawn from the model "
                f"priors with {self.scale:g} x their between-patient spread")

    def typical_values(self, model, n, seed):
        out = PriorUncertainty(scale=self.scale).typical_values(model, n, seed)
        post = self._posterior()
        values = np.asarray(post["values"], dtype=float)
        w = np.asarray(post["weights"], dtype=float)
        rows = np.random.default_rng([seed, 0xCA1B, n]).choice(len(w), size=n, p=w / w.sum())
        for j, key in enumerate(post["keys"]):
            name, _, field = key.partition(".")
            if field:  # a spread (cv), not a typical value: the model's calibrated spread applies
                continue
            out[:, model.parameter_index(name)] = values[rows, j]
        return out


def default_parameter_source(disease: str) -> ParameterSource:
    """The calibrated posterior where the disease has a shipped calibration, else the priors."""
    from remit.calibration import shipped

    return CalibratedUncertainty(disease) if shipped.load(disease) is not None else PriorUncertainty()


def shift_typical(model, P: np.ndarray, typical: np.ndarray) -> np.ndarray:
    """Move per-patient parameters ``P`` (drawn around the model's typical values) to other typical values
    (``typical``: one row per patient, or one row for all)."""
    P = P.copy()
    typical = np.broadcast_to(np.asarray(typical, dtype=float), P.shape)
    for j, p in enumerate(model.parameters):
        t = typical[:, j]
        if np.all(t == p.value):
            continue
        if p.prior == "logitnormal":
            x = np.clip(P[:, j], 1e-9, 1 - 1e-9)
            P[:, j] = special.expit(special.logit(x) + special.logit(t) - special.logit(p.value))
        elif p.value != 0:
            P[:, j] = P[:, j] * (t / p.value)
        P[:, j] = np.clip(P[:, j], np.minimum(p.low, t), np.maximum(p.high, t))
    return P


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """Quantile ``q`` of values ``x`` with weights ``w`` (NaNs and zero weights dropped; linear between midpoints)."""
    x, w = np.asarray(x, float), np.asarray(w, float)
    ok = np.isfinite(x) & (w > 0)
    x, w = x[ok], w[ok]
    if len(x) == 0:
        return math.nan
    o = np.argsort(x)
    x, w = x[o], w[o]
    cw = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cw, x))
