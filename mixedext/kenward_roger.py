"""Kenward-Roger adjusted covariance of the fixed effects and denominator degrees of freedom.

As pbkrtest (Halekoh & Hojsgaard 2014, *J Stat Softw* 59(9)) implements Kenward & Roger
(1997, *Biometrics* 53:983) for lme4 fits, and lmerTest uses for ``ddf="Kenward-Roger"``:
the marginal covariance is linear in the variance parameters ``gamma`` (each random-effect
variance and covariance on the absolute scale, then ``sigma^2``),

    Sigma = sum_r gamma_r G_r,

with ``G_r = Z_a Z_a'`` for a variance, ``Z_a Z_b' + Z_b Z_a'`` for a covariance and ``I``
for the residual. With ``Phi = (X' Sigma^-1 X)^-1``:

    P_r = -X' Sigma^-1 G_r Sigma^-1 X,  Q_rs = X' Sigma^-1 G_r Sigma^-1 G_s Sigma^-1 X,
    I_rs = tr(Sigma^-1 G_r Sigma^-1 G_s) - 2 tr(Phi Q_rs) + tr(Phi P_r Phi P_s),
    W = 2 I^-1,  Phi_A = Phi + 2 Phi [sum_rs W_rs (Q_rs - P_r Phi P_s)] Phi.

A test of ``L beta = 0`` (``q`` rows) then uses ``Phi_A`` and the denominator df of
pbkrtest's ``Lb_ddf`` / ``KRmodcomp``. ``Sigma`` is block-diagonal over groups of rows
that share no unit of any term (e.g. the outermost level of nested terms); every trace
and product above is a sum over these blocks, each handled densely.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["KenwardRoger"]

MAX_BLOCK_ROWS = 4000  # a block's dense Sigma: 4000^2 doubles = 128 MB


def row_blocks(terms, n: int) -> list[np.ndarray]:
    """Groups of rows connected through a shared unit of any term."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    offsets = np.cumsum([0] + [t.n_units for t in terms])
    rows = np.concatenate([np.arange(n)] * len(terms))
    cols = np.concatenate([n + off + t.codes for t, off in zip(terms, offsets[:-1])])
    size = n + offsets[-1]
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    _, label = connected_components(graph, directed=False)
    order = np.argsort(label[:n], kind="stable")
    cuts = np.flatnonzero(np.diff(label[:n][order])) + 1
    return np.split(order, cuts)


def _covariance_parameters(terms, theta, sigma2):
    """``gamma``: per term the lower triangle of ``sigma^2 Lambda Lambda'`` (one value for a
    scalar term), then ``sigma^2``; with the ``(term, a, b)`` each belongs to."""
    from ._engine.factor import lambda_blocks

    values, index = [], []
    for k, (t, lam) in enumerate(zip(terms, lambda_blocks(np.asarray(theta), terms))):
        psi = sigma2 * lam @ lam.T
        if t.cov == "scalar":
            values.append(psi[0, 0])
            index.append((k, None, None))
            continue
        for b in range(t.q):
            for a in range(b, t.q):
                values.append(psi[a, b])
                index.append((k, a, b))
    values.append(sigma2)
    index.append(None)
    return np.array(values), index


def _g_matrices(terms, index, rows) -> list[np.ndarray]:
    """``G_r`` restricted to ``rows`` (dense)."""
    out = []
    for item in index:
        if item is None:
            out.append(np.eye(len(rows)))
            continue
        k, a, b = item
        t = terms[k]
        same = (t.codes[rows][:, None] == t.codes[rows][None, :]).astype(float)
        z = np.ones((len(rows), 1)) if t.z is None else np.asarray(t.z, dtype=float)[rows]
        if a is None:  # scalar term: theta^2 I_q
            out.append(same * (z @ z.T))
        elif a == b:
            out.append(same * np.outer(z[:, a], z[:, a]))
        else:
            cross = np.outer(z[:, a], z[:, b])
            out.append(same * (cross + cross.T))
    return out


class KenwardRoger:
    """pbkrtest's ``vcovAdj`` for one fit, and its degrees of freedom for contrasts.

    Parameters
    ----------
    res : MixedLMResults
        A fit by mixedext's engine without a residual structure.

    Attributes
    ----------
    vcov : ndarray (p, p)
        ``Phi``, the unadjusted covariance of the fixed effects.
    vcov_adjusted : ndarray (p, p)
        ``Phi_A``.
    """

    def __init__(self, res):
        res = getattr(res, "_results", res)
        model = res.model
        sol = res._require_engine("Kenward-Roger degrees of freedom")[0]
        if model._residual_spec is not None:
            raise NotImplementedError("Kenward-Roger is not available with a residual "
                                      "structure; use ddf='satterthwaite'")
        terms = model._terms
        x = np.asarray(model.exog, dtype=float)
        gamma, index = _covariance_parameters(terms, sol.theta, sol.sigma2)
        blocks = row_blocks(terms, len(x))
        largest = max(len(b) for b in blocks)
        if largest > MAX_BLOCK_ROWS:
            raise NotImplementedError(
                f"Kenward-Roger works on dense blocks of rows that share units; the largest "
                f"here has {largest} rows (limit {MAX_BLOCK_ROWS}, e.g. crossed factors over "
                "many rows); use ddf='satterthwaite'")
        p, r = x.shape[1], len(gamma)
        xsx = np.zeros((p, p))
        pp = np.zeros((r, p, p))
        qq = np.zeros((r, r, p, p))
        ktrace = np.zeros((r, r))
        for rows in blocks:
            g = _g_matrices(terms, index, rows)
            sigma = np.tensordot(gamma, np.array(g), axes=1)
            sigma_inv = np.linalg.inv(sigma)
            xb = x[rows]
            tt = sigma_inv @ xb
            xsx += xb.T @ tt
            hh = [gr @ sigma_inv for gr in g]  # G_r Sigma^-1
            oo = [h @ xb for h in hh]  # G_r Sigma^-1 X
            so = [sigma_inv @ o for o in oo]
            for i in range(r):
                pp[i] -= oo[i].T @ tt
                for j in range(i, r):
                    qq[i, j] += oo[i].T @ so[j]
                    ktrace[i, j] += np.sum(hh[i].T * hh[j])
        phi = np.linalg.inv(xsx)
        info = np.empty((r, r))
        for i in range(r):
            for j in range(i, r):
                info[i, j] = info[j, i] = (ktrace[i, j] - 2 * np.sum(phi * qq[i, j])
                                           + np.sum((phi @ pp[i]) * (pp[j] @ phi)))
        w = 2 * np.linalg.pinv(info)
        u = np.zeros((p, p))
        for i in range(r):
            for j in range(i, r):
                term = qq[i, j] - pp[i] @ phi @ pp[j]
                u += w[i, j] * (term if i == j else term + term.T)
        self.beta = np.asarray(sol.beta)
        self.vcov = phi
        self.vcov_adjusted = phi + 2 * phi @ u @ phi
        self._p, self._w = pp, w

    def _a1_a2(self, L):
        theta = L.T @ np.linalg.solve(L @ self.vcov @ L.T, L)
        u = [theta @ self.vcov @ pr @ self.vcov for pr in self._p]
        tr = np.array([np.trace(ui) for ui in u])
        a1 = tr @ self._w @ tr
        a2 = sum(self._w[i, j] * np.sum(u[i] * u[j].T)
                 for i in range(len(u)) for j in range(len(u)))
        return a1, a2

    def _ddf_and_scaling(self, L):
        """pbkrtest's ``.KR_adjust``: denominator df and the F scaling."""
        q = np.linalg.matrix_rank(L)
        a1, a2 = self._a1_a2(L)
        b = (a1 + 6 * a2) / (2 * q)
        g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
        den = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
        v0, v1, v2 = 1 + c1 * b, 1 - c2 * b, 1 - c3 * b
        v0 = 0.0 if abs(v0) < 1e-10 else v0
        rho = ((1 - a2 / q) / v1) ** 2 * v0 / v2 / q
        ddf = 4 + (q + 2) / (q * rho - 1)
        scaling = np.nan if abs(ddf - 4) < 1e-2 else ddf * (1 - a2 / q) / (ddf - 2)
        return float(ddf), float(scaling), q

    def df(self, l) -> float:
        """Denominator df of the 1-df contrast ``l' beta`` (pbkrtest's ``Lb_ddf``)."""
        return self._ddf_and_scaling(np.atleast_2d(np.asarray(l, dtype=float)))[0]

    def t_table(self, L) -> pd.DataFrame:
        """Estimate, SE (from ``Phi_A``), df, t and p for each row of ``L``."""
        from .inference import contrast_t_table

        return contrast_t_table(self.beta, self.vcov_adjusted, L, self.df)

    def f_test(self, L) -> dict:
        """pbkrtest's ``KRmodcomp`` F test of ``L beta = 0`` (scaled F)."""
        from scipy.stats import f as fdist

        L = np.atleast_2d(np.asarray(L, dtype=float))
        ddf, scaling, q = self._ddf_and_scaling(L)
        est = L @ self.beta
        wald = est @ np.linalg.solve(L @ self.vcov_adjusted @ L.T, est)
        fstat = scaling * wald / q
        return {"F": fstat, "num_df": q, "den_df": ddf, "pvalue": fdist.sf(fstat, q, ddf)}
