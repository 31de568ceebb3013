"""The profiled deviance of every deletion of a level at once, when all terms nest in it.

When every random-effect term is nested in the deleted level ``g`` (each unit of each
term lies in one unit of ``g``; ``g``'s own terms included), the random-effect block of
``Omega(theta)`` is block-diagonal by unit of ``g``, and so is its Cholesky factor. With
``W = Lambda' Z' [X y]`` (rows of ``g``-unit ``j``: ``W_j``), ``L_j`` the factor's block of
unit ``j`` and ``F_j = [X_j y_j]' W_j [X_j y_j]`` (``W`` here the prior weights) the
deviance needs

* ``log|L|^2 = sum_j l_j(theta)``, ``l_j = log|L_j|^2``;
* the Schur complement of ``[X y]``: ``A(theta) = sum_j S_j(theta)``,
  ``S_j = F_j - (L_j^-1 W_j)' (L_j^-1 W_j)``.

Deleting unit ``i`` removes its rows and every unit inside it and leaves all other
blocks as they are, so the reduced model's quantities are ``log|L|^2 - l_i`` and
``A - S_i``, with ``n - n_i`` rows and ``sum log w - sum_{rows of i} log w``: one
factorisation of the full model at ``theta`` gives the exact profiled deviance (and the
fixed effects, scale and ``(X'V^-1X)^-1``) of every deletion at that ``theta``.

Names: ``K`` units of ``g``; ``p`` fixed effects; ``n_i`` rows of unit ``i``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["NestedDeletions", "nested_parents", "DeletionComponents"]

_LOG2PI = np.log(2.0 * np.pi)


def nested_parents(term, groups, n_groups: int) -> np.ndarray | None:
    """The unit of ``groups`` each unit of ``term`` lies in, or None when some unit of
    ``term`` has rows in two units of ``groups`` (the term is not nested in it)."""
    codes = np.asarray(term.codes, dtype=np.int64)
    parent = np.full(term.n_units, -1, dtype=np.int64)
    parent[codes] = groups
    if np.any(parent < 0) or not np.array_equal(parent[codes], groups):
        return None
    return parent


class DeletionComponents:
    """``log|L|^2`` and the Schur complement ``A`` of ``[X y]`` of every deletion at one
    ``theta`` (or interpolated there), and what follows from them.

    Parameters
    ----------
    logdet : ndarray (K,)
    schur : ndarray (K, p + 1, p + 1)
    nobs : ndarray (K,)
        Rows left after each deletion.
    log_weights : ndarray (K,)
        ``sum log w`` over the rows left.
    """

    def __init__(self, logdet, schur, nobs, log_weights):
        self.logdet = np.asarray(logdet, dtype=float)
        self.schur = np.asarray(schur, dtype=float)
        self.nobs = nobs
        self.log_weights = log_weights
        self.p = self.schur.shape[1] - 1
        self.chol, self.ok = _batched_cholesky(self.schur)

    def deviance(self, reml: bool) -> np.ndarray:
        """The profiled deviance of each deletion (``inf`` where ``A`` is not positive
        definite: the fixed effects are not identified without the unit)."""
        p = self.p
        diag = np.diagonal(self.chol, axis1=1, axis2=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = diag[:, p] ** 2
            dof = self.nobs - p if reml else self.nobs
            dev = self.logdet + dof * (1.0 + _LOG2PI + np.log(r2 / dof)) - self.log_weights
            if reml:
                dev = dev + 2.0 * np.log(diag[:, :p]).sum(axis=1)
        return np.where(self.ok, dev, np.inf)

    def fixed_effects(self, reml: bool):
        """``(beta (K, p), sigma2 (K,), xtvinvx_inv (K, p, p))`` of each deletion, as
        :meth:`ProfiledDeviance.solution` (NaN where ``A`` is not positive definite)."""
        p, lxx = self.p, self.chol
        rx_inv = np.linalg.inv(lxx[:, :p, :p])  # lower triangular
        beta = np.einsum("kba,kb->ka", rx_inv, lxx[:, p, :p])
        cov = np.einsum("kba,kbc->kac", rx_inv, rx_inv)
        beta[~self.ok], cov[~self.ok] = np.nan, np.nan
        dof = self.nobs - p if reml else self.nobs
        sigma2 = np.where(self.ok, lxx[:, p, p] ** 2 / dof, np.nan)
        return beta, sigma2, cov


def _batched_cholesky(mats):
    """Lower Cholesky factors of a stack, and which of them exist (identity where not)."""
    try:
        return np.linalg.cholesky(mats), np.ones(len(mats), dtype=bool)
    except np.linalg.LinAlgError:
        out, ok = np.empty_like(mats), np.ones(len(mats), dtype=bool)
        for i, m in enumerate(mats):
            try:
                out[i] = np.linalg.cholesky(m)
            except np.linalg.LinAlgError:
                out[i], ok[i] = np.eye(m.shape[0]), False
        return out, ok


class NestedDeletions:
    """Every deletion of a level evaluated at once (see the module docstring).

    Parameters
    ----------
    dev : ProfiledDeviance
        The full model's (its factorisation is used, never its state changed).
    groups : ndarray of int (n,)
        The deleted level's unit of every row.
    n_groups : int
    exog, endog : ndarray
        The rows (``endog`` the outcome the engine fits).
    weights : ndarray (n,), optional
        Prior weights.

    Raises
    ------
    ValueError
        When some term is not nested in the level, or the model's factor has a dense
        tail (see :meth:`applies`).
    """

    def __init__(self, dev, groups, n_groups: int, exog, endog, weights=None):
        groups = np.asarray(groups, dtype=np.int64)
        parents = [nested_parents(t, groups, n_groups) for t in dev.terms]
        if any(pa is None for pa in parents) or dev.chol.tail:
            raise ValueError("every term must be nested in the deleted level, with no "
                             "dense tail in the factor")
        self.dev = dev
        self.n_groups = k = n_groups
        p1 = dev.p + 1
        # per unit of g: [X y]' W [X y], rows and log weights
        xy = np.column_stack([np.asarray(exog, dtype=float), np.asarray(endog, dtype=float)])
        wxy = xy if weights is None else xy * np.asarray(weights, dtype=float)[:, None]
        rows_of = sp.csr_matrix((np.ones(len(groups)), (groups, np.arange(len(groups)))),
                                shape=(k, len(groups)))
        self.unit_xyxy = np.stack([rows_of @ (wxy * xy[:, a:a + 1]) for a in range(p1)],
                                  axis=2)
        n_i = np.bincount(groups, minlength=k)
        self.nobs = dev.n - n_i
        logw = 0.0 if weights is None else np.bincount(
            groups, weights=np.log(np.asarray(weights, dtype=float)), minlength=k)
        self.log_weights = dev.cp.log_weights - logw
        # per term in elimination order: the g-unit of each unit, and of each factor row
        chol = dev.chol
        self.unit_parent, self.row_sum = [], []
        for t in chol.terms:
            parent = parents[dev.terms.index(t)]
            self.unit_parent.append(parent)
            rows = np.repeat(parent, t.q)
            self.row_sum.append(sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))),
                                              shape=(k, len(rows))))

    @classmethod
    def applies(cls, dev, groups, n_groups: int) -> bool:
        """Whether every term of ``dev`` is nested in ``groups`` and its factor has no
        dense tail."""
        groups = np.asarray(groups, dtype=np.int64)
        return not dev.chol.tail and all(
            nested_parents(t, groups, n_groups) is not None for t in dev.terms)

    def components(self, theta) -> DeletionComponents:
        """Every deletion's ``log|L|^2`` and Schur complement at ``theta``."""
        dev, k = self.dev, self.n_groups
        f = dev.chol.factorize(np.asarray(theta, dtype=float), dev.terms, with_xx=False)
        p1 = dev.p + 1
        unit_logdet = np.zeros(k)
        unit_proj = np.zeros((k, p1, p1))
        for pos, wx in enumerate(f.xrow):
            diag = np.diagonal(f.chol[pos], axis1=1, axis2=2)
            unit_logdet += np.bincount(self.unit_parent[pos],
                                       weights=2.0 * np.log(diag).sum(axis=1), minlength=k)
            if wx.size * p1 <= 4_000_000:
                outer = (wx[:, :, None] * wx[:, None, :]).reshape(len(wx), -1)
                unit_proj += (self.row_sum[pos] @ outer).reshape(k, p1, p1)
            else:  # column by column: no (rows, p + 1, p + 1) temporary
                for a in range(p1):
                    unit_proj[:, :, a] += self.row_sum[pos] @ (wx * wx[:, a:a + 1])
        unit_schur = self.unit_xyxy - unit_proj
        total = dev.cp.xyxy - unit_proj.sum(axis=0)
        return DeletionComponents(f.logdet - unit_logdet, total[None] - unit_schur,
                                  self.nobs, self.log_weights)

    def deviance(self, theta, reml: bool) -> np.ndarray:
        """The profiled deviance of every deletion at ``theta`` (``inf`` where the
        factorisation fails)."""
        try:
            return self.components(theta).deviance(reml)
        except np.linalg.LinAlgError:
            return np.full(self.n_groups, np.inf)
