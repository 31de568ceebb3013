"""The partial-autocorrelation parameterisation of stationary correlation sequences.

A sequence of partial autocorrelations ``pi_1 .. pi_K`` in ``(-1, 1)`` is in one-to-one
correspondence with (a) the coefficients ``a_1 .. a_K`` of a stationary AR(K) polynomial
``1 - a_1 z - ... - a_K z^K`` and (b) the autocorrelations ``rho_1 .. rho_K`` of a
positive definite Toeplitz correlation matrix of order ``K + 1`` (Barndorff-Nielsen and
Schou 1973; Monahan 1984). nlme's ``corARMA`` optimises on the same scale
(``log((1 + pi) / (1 - pi))``); here ``pi = tanh(eta)``. Both maps are the
Durbin-Levinson recursion.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pacf_to_coefficients", "pacf_to_autocorrelations"]


def _levinson(pacf):
    """The Durbin-Levinson recursion: AR coefficients and autocorrelations."""
    pacf = np.asarray(pacf, dtype=float)
    coef = np.zeros(0)
    rho = np.zeros(0)
    for k, r in enumerate(pacf):
        # rho_{k+1} from the order-k coefficients and the new partial correlation
        if k == 0:
            new_rho = r
        else:
            v = 1.0 - coef @ rho[:k]
            new_rho = r * v + coef @ rho[:k][::-1]
        rho = np.append(rho, new_rho)
        coef = np.append(coef - r * coef[::-1], r)
    return coef, rho


def pacf_to_coefficients(pacf) -> np.ndarray:
    """Stationary AR coefficients ``a_1 .. a_K`` with partial autocorrelations ``pacf``.

    Parameters
    ----------
    pacf : array_like (K,)
        Partial autocorrelations, each in ``(-1, 1)``.

    Returns
    -------
    ndarray (K,)
        ``a`` such that ``1 - a_1 z - ... - a_K z^K`` has its roots outside the unit
        circle.
    """
    return _levinson(pacf)[0]


def pacf_to_autocorrelations(pacf) -> np.ndarray:
    """Autocorrelations ``rho_1 .. rho_K`` of the stationary sequence with partial
    autocorrelations ``pacf``: the Toeplitz matrix ``[rho_|i - j|]`` (``rho_0 = 1``) of
    order ``K + 1`` is positive definite.

    Parameters
    ----------
    pacf : array_like (K,)
        Partial autocorrelations, each in ``(-1, 1)``.

    Returns
    -------
    ndarray (K,)
    """
    return _levinson(pacf)[1]
