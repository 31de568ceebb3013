"""Toeplitz residuals at integer times: a free correlation per lag (SAS ``TYPE=TOEP``).

Within a unit, rows ``k`` time steps apart have correlation ``rho_k`` (``k = 1 .. K``,
``K`` the longest span of times within a unit; gaps allowed), every row variance
``sigma^2``. The lag correlations are kept those of a positive definite Toeplitz matrix
by optimising on their partial autocorrelations (:mod:`mixedext.structures.pacf`); the
model is nlme's ``corARMA(form = ~ t | g, p = K, q = 0)`` in another parametrisation
(an AR(K) process has free autocorrelations at lags 1 .. K). Parameters
``rho1 .. rhoK``; Wald intervals on the ``atanh`` scale.
"""

from __future__ import annotations

import numpy as np

from mixedext.structures.base import register
from mixedext.structures.pacf import pacf_to_autocorrelations
from mixedext.structures.patterns import LagCorrelation

__all__ = ["Toeplitz", "MAX_LAGS"]

MAX_LAGS = 20  # lags at most


@register
class Toeplitz(LagCorrelation):
    """A correlation per lag at integer times (see the module docstring)."""

    kinds = ("toeplitz",)
    name = "toeplitz"

    def __init__(self, unit_codes, n_units, w, times, *, het=None, cols=None,
                 constants=None):
        self.n_params = 0
        super().__init__(unit_codes, n_units, w, times, het=het, cols=cols)
        if constants:  # the whole data's longest lag (the rows are some of its units)
            self.max_lag = int(constants["max_lag"])
        self.n_params = self.max_lag

    @classmethod
    def build(cls, spec, w, cols):
        return cls(spec.codes, spec.n_units, w, spec.times, het=spec.het, cols=cols,
                   constants=spec.constants)

    @classmethod
    def validate(cls, spec, terms) -> None:
        super().validate(spec, terms)
        cls.check_constants(cls.data_constants(spec), spec)

    @classmethod
    def validate_rows(cls, spec, terms) -> None:
        super().validate(spec, terms)

    @classmethod
    def data_constants(cls, spec) -> dict:
        """The longest span of times within a unit and which lags occur in a unit."""
        t = spec.times.astype(np.int64)
        first = np.full(spec.n_units, np.iinfo(np.int64).max)
        np.minimum.at(first, spec.codes, t)
        rel = t - first[spec.codes]
        top = int(rel.max(initial=0))
        present = np.zeros((spec.n_units, top + 1), dtype=bool)
        present[spec.codes, rel] = True
        lags = [k for k in range(1, top + 1) if np.any(present[:, :-k] & present[:, k:])]
        return {"max_lag": top, "lags": np.array(lags, dtype=np.int64)}

    @classmethod
    def add_constants(cls, a: dict, b: dict) -> dict:
        return {"max_lag": max(a["max_lag"], b["max_lag"]),
                "lags": np.union1d(a["lags"], b["lags"])}

    @classmethod
    def check_constants(cls, constants: dict, spec) -> None:
        top = constants["max_lag"]
        if top == 0:
            raise ValueError("cov_struct='toeplitz': every residual unit has a single row, "
                             "so there is no lag to correlate over")
        if top > MAX_LAGS:
            raise ValueError(f"cov_struct='toeplitz' with lags up to {top} in "
                             f"{spec.time_name!r}: too many correlations (at most "
                             f"{MAX_LAGS} lags); use 'ar1' or 'arma(p,q)'")
        missing = sorted(set(range(1, top + 1)) - set(constants["lags"].tolist()))
        if missing:
            raise ValueError(f"cov_struct='toeplitz': no unit has two times "
                             f"{missing[0]} apart in {spec.time_name!r}, so the correlation "
                             f"at that lag cannot be identified")

    def acf(self, eta, max_lag):
        return np.r_[1.0, pacf_to_autocorrelations(np.tanh(eta[:self.max_lag]))]

    def acf_from_params(self, params, max_lag):
        if max_lag > self.max_lag:
            raise ValueError(f"lags up to {self.max_lag} were fitted; times {max_lag} "
                             "apart have no correlation in this model")
        return np.r_[1.0, [params[f"rho{k}"] for k in range(1, self.max_lag + 1)]]

    def natural(self, eta):
        acf = self.acf(np.asarray(eta, dtype=float), self.max_lag)
        out = {f"rho{k}": float(acf[k]) for k in range(1, self.max_lag + 1)}
        out.update(super().natural(eta))
        return out
