"""ARMA(p, q) residuals at integer times (nlme's ``corARMA(form = ~ t | g, p, q)``).

Within a unit, ``e_t = phi_1 e_{t-1} + ... + phi_p e_{t-p} + a_t + theta_1 a_{t-1} +
... + theta_q a_{t-q}`` (nlme's signs), observed at integer times with gaps allowed: the
correlation of two rows ``k`` apart is the process' autocorrelation ``acf(k)``. The
process is kept stationary and invertible by optimising on the partial
autocorrelations of each part (:mod:`mixedext.structures.pacf`, nlme's scale);
``cov_struct="arma(1,0)"`` is AR(1). Parameters ``phi1 .. phip``, ``theta1 .. thetaq``;
their Wald intervals are formed on the ``atanh`` scale (for a part of order 1 that is
nlme's ``log((1 + x) / (1 - x)) / 2``).
"""

from __future__ import annotations

import re

import numpy as np
from statsmodels.tsa.arima_process import arma_acf

from mixedext.structures.base import register
from mixedext.structures.pacf import pacf_to_coefficients
from mixedext.structures.patterns import LagCorrelation

__all__ = ["ARMA", "arma_orders"]

_ORDERS = re.compile(r"^arma\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def arma_orders(kind: str) -> tuple[int, int]:
    """``(p, q)`` of ``cov_struct="arma(p,q)"``; a ValueError names the argument."""
    match = _ORDERS.match(kind)
    if match is None:
        raise ValueError(f"cov_struct={kind!r}: write the orders as 'arma(p,q)', e.g. "
                         "'arma(1,1)'")
    p, q = int(match.group(1)), int(match.group(2))
    if p + q == 0:
        raise ValueError("cov_struct='arma(0,0)' is independence: give p + q >= 1")
    return p, q


@register
class ARMA(LagCorrelation):
    """ARMA(p, q) correlation at integer times (nlme ``corARMA``; see the module
    docstring).

    Parameters
    ----------
    unit_codes, n_units, w, times, het, cols
        As :class:`~mixedext.structures.patterns.PatternStructure`.
    p, q : int
        The autoregressive and moving-average orders.
    """

    kinds = ("arma(p,q)",)

    def __init__(self, unit_codes, n_units, w, times, *, p=1, q=0, het=None, cols=None):
        self.p, self.q = int(p), int(q)
        self.n_params = self.p + self.q
        self.name = f"arma({self.p},{self.q})"
        super().__init__(unit_codes, n_units, w, times, het=het, cols=cols)

    @classmethod
    def build(cls, spec, w, cols):
        p, q = arma_orders(spec.kind)
        return cls(spec.codes, spec.n_units, w, spec.times, p=p, q=q, het=spec.het,
                   cols=cols)

    @classmethod
    def validate(cls, spec, terms) -> None:
        arma_orders(spec.kind)
        super().validate(spec, terms)

    def _coefficients(self, eta):
        phi = pacf_to_coefficients(np.tanh(eta[:self.p]))
        theta = -pacf_to_coefficients(np.tanh(eta[self.p:self.p + self.q]))
        return phi, theta

    @staticmethod
    def _acf(phi, theta, max_lag):
        return arma_acf(np.r_[1.0, -np.asarray(phi)], np.r_[1.0, np.asarray(theta)],
                        lags=max_lag + 1)

    def acf(self, eta, max_lag):
        phi, theta = self._coefficients(eta)
        out = self._acf(phi, theta, max_lag)
        return out if np.all(np.isfinite(out)) else None

    def acf_from_params(self, params, max_lag):
        phi = [params[f"phi{i + 1}"] for i in range(self.p)]
        theta = [params[f"theta{j + 1}"] for j in range(self.q)]
        return self._acf(phi, theta, max_lag)

    def natural(self, eta):
        phi, theta = self._coefficients(np.asarray(eta, dtype=float))
        out = {f"phi{i + 1}": float(v) for i, v in enumerate(phi)}
        out.update({f"theta{j + 1}": float(v) for j, v in enumerate(theta)})
        out.update(super().natural(eta))
        return out
