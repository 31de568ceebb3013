"""Random-effect terms and the cross-products of ``[Z X y]``, computed once.

A *term* is one lme4 random-effect term ``(z1 + ... + zq | unit)``: every row belongs to
exactly one unit of the term (``codes``), and carries ``q`` random-effect covariates
(``z``; ``None`` means the single column of ones, a random intercept). The random
effects of different units are independent with a common ``q x q`` covariance.

Everything the profiled deviance needs is a cross-product of ``[Z X y]`` (Bates et al.
2015, section 3): ``Z_k'Z_k`` per unit (``ztz``), ``Z_k'[X y]`` per unit (``ztxy``),
``Z_l'Z_k`` between terms (sparse, ``pairs``) and ``[X y]'[X y]`` (``xyxy``). After this
module has run the optimiser never touches the rows again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

__all__ = ["RandomTerm", "CrossProducts", "cross_products"]


@dataclass(frozen=True, eq=False)
class RandomTerm:
    """One random-effect term.

    Parameters
    ----------
    level : str
        Name of the grouping level (``"center/rep"``, ``"item"``).
    codes : ndarray of int, shape (n,)
        Unit index ``0 .. n_units - 1`` of every row.
    unit_labels : ndarray, shape (n_units,)
        Label of each unit (``"1/3"``: center 1, rep 3).
    names : tuple of str
        Names of the ``q`` random-effect covariates (``"Intercept"``, ``"Days"``).
    z : ndarray, shape (n, q), optional
        Random-effect covariates; ``None`` for a random intercept.
    cov : {"full", "scalar"}
        ``"full"``: unstructured ``q x q`` covariance (lower Cholesky factor, lme4);
        ``"scalar"``: ``tau^2 I_q``, independent coefficients with one common variance
        (a statsmodels variance component).
    component : str, optional
        statsmodels' name of the variance component.
    lhs, factors : optional
        The term's random-effect formula and grouping columns, to rebuild ``z`` and the
        units for new data (prediction); ``None`` when the term came from arrays.
    sizes : ndarray, optional
        Rows per unit when the term has no row codes (fits from reduced cross-products).
    """

    level: str
    codes: np.ndarray  # None for row-less terms (reduced cross-products: Dask, deletions)
    unit_labels: np.ndarray
    names: tuple[str, ...] = ("Intercept",)
    z: np.ndarray | None = None
    cov: str = "full"
    component: str | None = None
    lhs: str | None = None            # the random-effect formula (for new data)
    factors: tuple | None = None      # the grouping columns, outermost first
    sizes: np.ndarray | None = None   # rows per unit, for terms kept without row codes

    @property
    def n_units(self) -> int:
        return len(self.unit_labels)

    @property
    def q(self) -> int:
        return len(self.names)

    @property
    def unit_sizes(self) -> np.ndarray:
        """Rows per unit."""
        if self.codes is None:
            return self.sizes
        return np.bincount(self.codes, minlength=self.n_units)

    @property
    def n_theta(self) -> int:
        return 1 if self.cov == "scalar" else self.q * (self.q + 1) // 2

    def zcol(self, a: int) -> np.ndarray | None:
        """Column ``a`` of Z (``None`` for the column of ones)."""
        return None if self.z is None else self.z[:, a]


def _weighted_bincount(codes, weights, m):
    if weights is None:
        return np.bincount(codes, minlength=m).astype(float)
    return np.bincount(codes, weights=weights, minlength=m)


def _product(u, v):
    if u is None:
        return v
    if v is None:
        return u
    return u * v


@dataclass
class CrossProducts:
    """The sufficient statistics of a linear mixed model.

    Parameters
    ----------
    n, p : int
        Number of rows and of fixed-effect columns.
    xyxy : ndarray, shape (p + 1, p + 1)
        ``[X y]'[X y]``.
    ztz : list of ndarray, shape (m_k, q_k, q_k)
        ``Z_k'Z_k`` per unit of term ``k``.
    ztxy : list of ndarray, shape (m_k, q_k, p + 1)
        ``Z_k'[X y]`` per unit of term ``k``.
    pairs : dict
        ``(l, k) -> Z_l'Z_k`` for ``l > k`` as a sparse CSR matrix of shape
        ``(m_l q_l, m_k q_k)`` (unit-major: column ``i * q + a``).
    counts : list of ndarray
        Number of rows per unit of each term.
    weights : ndarray (n,), optional
        Prior weights ``w_i`` (residual variance ``sigma^2 / w_i``): every product above
        is then weighted, ``Z'WZ``, ``X'Wy``, ...
    log_weights : float
        ``sum_i log w_i`` (the weights' term of the log-likelihood).
    """

    n: int
    p: int
    xyxy: np.ndarray
    ztz: list
    ztxy: list
    pairs: dict = field(default_factory=dict)
    counts: list = field(default_factory=list)
    weights: np.ndarray | None = None
    log_weights: float = 0.0


def _pair_block(tl: RandomTerm, tk: RandomTerm, weights=None) -> sp.csr_matrix:
    ml, mk, ql, qk = tl.n_units, tk.n_units, tl.q, tk.q
    shape = (ml * ql, mk * qk)
    if ml * mk <= 2_000_000:
        # Dense accumulation over the unit pairs: one bincount per (a, b).
        key = tl.codes.astype(np.int64) * mk + tk.codes
        out = np.zeros((ml, ql, mk, qk))
        for a in range(ql):
            for b in range(qk):
                w = _product(_product(tl.zcol(a), tk.zcol(b)), weights)
                out[:, a, :, b] = _weighted_bincount(key, w, ml * mk).reshape(ml, mk)
        return sp.csr_matrix(out.reshape(shape))
    rows, cols, vals = [], [], []
    for a in range(ql):
        for b in range(qk):
            w = _product(_product(tl.zcol(a), tk.zcol(b)), weights)
            rows.append(tl.codes * ql + a)
            cols.append(tk.codes * qk + b)
            vals.append(np.ones(len(tl.codes)) if w is None else w)
    mat = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
    )
    return mat.tocsr()


def cross_products(exog: np.ndarray, endog: np.ndarray, terms: list[RandomTerm],
                   weights=None) -> CrossProducts:
    """Compute every cross-product the deviance needs, in one pass over the rows.

    Parameters
    ----------
    exog : ndarray, shape (n, p)
    endog : ndarray, shape (n,)
    terms : list of RandomTerm
    weights : ndarray, shape (n,), optional
        Prior weights: the products are weighted (``Z'WZ``, ...).

    Returns
    -------
    CrossProducts
    """
    exog = np.asarray(exog, dtype=float)
    xy = np.column_stack([exog, np.asarray(endog, dtype=float)])
    w = None if weights is None else np.asarray(weights, dtype=float)
    wxy = xy if w is None else xy * w[:, None]
    n, p1 = xy.shape
    ztz, ztxy, counts = [], [], []
    for t in terms:
        m, q = t.n_units, t.q
        counts.append(np.bincount(t.codes, minlength=m))
        block = np.empty((m, q, q))
        for a in range(q):
            for b in range(a + 1):
                block[:, a, b] = _weighted_bincount(
                    t.codes, _product(_product(t.zcol(a), t.zcol(b)), w), m)
                block[:, b, a] = block[:, a, b]
        ztz.append(block)
        zx = np.empty((m, q, p1))
        for a in range(q):
            za = t.zcol(a)
            weighted = wxy if za is None else wxy * za[:, None]
            zx[:, a, :] = _unit_sums(t.codes, weighted, m)
        ztxy.append(zx)
    pairs = {
        (l, k): _pair_block(terms[l], terms[k], w)
        for l in range(len(terms))
        for k in range(l)
    }
    return CrossProducts(n=n, p=p1 - 1, xyxy=wxy.T @ xy, ztz=ztz, ztxy=ztxy, pairs=pairs,
                         counts=counts, weights=w,
                         log_weights=0.0 if w is None else float(np.sum(np.log(w))))


def _unit_sums(codes: np.ndarray, values: np.ndarray, m: int) -> np.ndarray:
    """Column sums of ``values`` (n, c) within each unit: shape (m, c)."""
    return np.column_stack([np.bincount(codes, weights=values[:, j], minlength=m)
                            for j in range(values.shape[1])])
