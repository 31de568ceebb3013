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
and product above is a sum over these blocks, each reduced to its random effects by the
Woodbury identity (see :class:`KenwardRoger`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.stats import f as fdist

from mixedext._engine.factor import lambda_blocks
from mixedext.inference.tables import contrast_t_table, unwrap

__all__ = ["KenwardRoger"]

MAX_BLOCK_EFFECTS = 5000  # random effects in one block: a dense Q x Q inverse


def row_blocks(terms, n: int) -> list[np.ndarray]:
    """Groups of rows connected through a shared unit of any term."""

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
    """``gamma`` without ``sigma^2``: per term the lower triangle of
    ``sigma^2 Lambda Lambda'`` (one value for a scalar term), with the ``(term, a, b)``
    each belongs to."""

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
    return np.array(values), index


def _block_design(terms, rows):
    """The block's ``Z`` (sparse, rows x effects) and the effects of each term
    (``(units in block, q)`` index arrays into its columns)."""

    blocks, effects, start = [], [], 0
    for t in terms:
        units, local = np.unique(t.codes[rows], return_inverse=True)
        z = np.ones((len(rows), 1)) if t.z is None else np.asarray(t.z, dtype=float)[rows]
        cols = local[:, None] * t.q + np.arange(t.q)[None, :]
        blocks.append(sp.csr_matrix((z.ravel(), (np.repeat(np.arange(len(rows)), t.q),
                                                 cols.ravel())),
                                    shape=(len(rows), len(units) * t.q)))
        effects.append(start + np.arange(len(units) * t.q).reshape(len(units), t.q))
        start += len(units) * t.q
    return sp.hstack(blocks, format="csr"), effects


def _derivative_patterns(index, effects, size):
    """``E_r`` (sparse, effects x effects): ``dPsi / dgamma_r`` within the block."""

    out = []
    for k, a, b in index:
        eff = effects[k]
        if a is None:  # scalar term: theta^2 I_q
            pos = eff.ravel()
            rows, cols = pos, pos
        elif a == b:
            rows, cols = eff[:, a], eff[:, a]
        else:
            rows = np.concatenate([eff[:, a], eff[:, b]])
            cols = np.concatenate([eff[:, b], eff[:, a]])
        out.append(sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size)))
    return out


def _block_psi(gamma, index, effects, size):
    psi = np.zeros((size, size))
    for g, (k, a, b) in zip(gamma, index):
        eff = effects[k]
        if a is None:
            psi[eff.ravel(), eff.ravel()] = g
        else:
            psi[eff[:, a], eff[:, b]] = g
            psi[eff[:, b], eff[:, a]] = g
    return psi


def _times(e, m):
    """``E @ M_g`` for every matrix of the stack ``m`` (G, Q, k); ``E`` dense or sparse."""

    return np.stack([e @ mg for mg in m]) if sp.issparse(e) else np.matmul(e, m)


class _BlockSums:
    """The sums over blocks of ``X'SX``, ``P_r``, ``Q_rs`` and ``tr(S G_r S G_s)``."""

    def __init__(self, p: int, r: int):
        self.r = r
        self.xsx = np.zeros((p, p))
        self.pp = np.zeros((r, p, p))
        self.qq = np.zeros((r, r, p, p))
        self.ktrace = np.zeros((r, r))

    def add(self, h, zx, xx, n_rows, psi, patterns, s2):
        """Blocks with ``Z'Z = h`` (G, Q, Q) and ``Z'X = zx`` (G, Q, p), the same ``Psi`` and
        ``E_r``; ``xx`` and ``n_rows``: ``X'X`` and rows summed over them."""
        def t(m):
            return m.swapaxes(1, 2)

        size, last = h.shape[1], self.r - 1
        eye = np.eye(size)
        k = psi @ np.linalg.inv(s2 * eye + h @ psi)
        k = 0.5 * (k + t(k))
        u = eye - h @ k
        a, b = u @ h / s2, u @ zx / s2
        a2, b2 = u @ h @ t(u) / s2 ** 2, u @ u @ zx / s2 ** 2
        zkz = (t(zx) @ k @ zx).sum(axis=0)
        c2 = (xx - 2 * zkz + (t(zx) @ k @ h @ k @ zx).sum(axis=0)) / s2 ** 2
        uz = u @ zx
        c3 = c2 / s2 - (t(uz) @ k @ uz).sum(axis=0) / s2 ** 3
        kh = k @ h
        tr_s2 = (n_rows - 2 * np.trace(kh, axis1=1, axis2=2).sum()
                 + np.einsum("gij,gji->", kh, kh)) / s2 ** 2
        eb = [_times(e, b) for e in patterns]
        ea = [_times(e, a) for e in patterns]
        self.xsx += (xx - zkz) / s2
        for i, e in enumerate(patterns):
            self.pp[i] -= (t(b) @ eb[i]).sum(axis=0)
            for j in range(i, last):
                self.qq[i, j] += (t(eb[i]) @ a @ eb[j]).sum(axis=0)
                self.ktrace[i, j] += np.einsum("gij,gji->", ea[i], ea[j])
            self.qq[i, last] += (t(eb[i]) @ b2).sum(axis=0)
            self.ktrace[i, last] += (sum(e.multiply(a2g).sum() for a2g in a2)
                                     if sp.issparse(e) else np.einsum("ij,gji->", e, a2))
        self.pp[last] -= c2
        self.qq[last, last] += c3
        self.ktrace[last, last] += tr_s2


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

    Notes
    -----
    Per block, with ``Z`` its random-effect columns, ``Psi`` their covariance, ``H = Z'Z``
    and ``S = Sigma^-1 = (I - Z K Z') / sigma^2``, ``K = Psi (sigma^2 I + H Psi)^-1``
    (Woodbury, valid for a singular ``Psi``), every quantity above reduces to products of
    ``A = Z'SZ``, ``B = Z'SX``, ``Z'S^2Z``, ``Z'S^2X``, ``X'S^kX`` (k = 1, 2, 3) and
    ``tr(S^2)``, which need only ``H``, ``Z'X`` and ``X'X``: the cost is that of the
    block's random effects, not of its rows.
    """

    def __init__(self, res):
        res = unwrap(res)
        model = res.model
        state = res._require_engine("Kenward-Roger degrees of freedom")
        sol = state.solution
        if state.has_structure or model.weights is not None:
            raise NotImplementedError("Kenward-Roger is not available with a residual "
                                      "structure or prior weights; use "
                                      "ddf='satterthwaite'")
        terms = state.terms
        s2 = sol.sigma2
        gamma, index = _covariance_parameters(terms, sol.theta, s2)
        p = len(sol.beta)
        sums = _BlockSums(p, len(gamma) + 1)  # the last parameter is sigma^2
        if len(terms) == 1:  # the blocks are the units: batched from the cross-products
            cp = state.profiled.cp
            t = terms[0]
            effects = [np.arange(t.q).reshape(1, t.q)]
            patterns = [e.toarray() for e in _derivative_patterns(index, effects, t.q)]
            sums.add(cp.ztz[0], cp.ztxy[0][:, :, :p], cp.xyxy[:p, :p], cp.n,
                     _block_psi(gamma, index, effects, t.q), patterns, s2)
        else:
            x = np.asarray(model.exog, dtype=float)
            for rows in row_blocks(terms, len(x)):
                z, effects = _block_design(terms, rows)
                size = z.shape[1]
                if size > MAX_BLOCK_EFFECTS:
                    raise NotImplementedError(
                        f"Kenward-Roger works on blocks of rows that share units; one here "
                        f"has {size} random effects (limit {MAX_BLOCK_EFFECTS}, e.g. large "
                        "crossed factors); use ddf='satterthwaite'")
                xb = x[rows]
                sums.add((z.T @ z).toarray()[None], np.asarray(z.T @ xb)[None], xb.T @ xb,
                         len(rows), _block_psi(gamma, index, effects, size),
                         _derivative_patterns(index, effects, size), s2)
        xsx, pp, qq, ktrace, r = sums.xsx, sums.pp, sums.qq, sums.ktrace, sums.r
        phi = np.linalg.inv(xsx)
        info = np.empty((r, r))
        for i in range(r):
            for j in range(i, r):
                info[i, j] = info[j, i] = (ktrace[i, j] - 2 * np.sum(phi * qq[i, j])
                                           + np.sum((phi @ pp[i]) * (pp[j] @ phi)))
        w = 2 * np.linalg.pinv(info)
        adj = np.zeros((p, p))
        for i in range(r):
            for j in range(i, r):
                term = qq[i, j] - pp[i] @ phi @ pp[j]
                adj += w[i, j] * (term if i == j else term + term.T)
        self.beta = np.asarray(sol.beta)
        self.vcov = phi
        self.vcov_adjusted = phi + 2 * phi @ adj @ phi
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
        return contrast_t_table(self.beta, self.vcov_adjusted, L, self.df)

    def f_test(self, L) -> dict:
        """pbkrtest's ``KRmodcomp`` F test of ``L beta = 0`` (scaled F)."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        ddf, scaling, q = self._ddf_and_scaling(L)
        est = L @ self.beta
        wald = est @ np.linalg.solve(L @ self.vcov_adjusted @ L.T, est)
        fstat = scaling * wald / q
        return {"F": fstat, "num_df": q, "den_df": ddf, "pvalue": fdist.sf(fstat, q, ddf)}
