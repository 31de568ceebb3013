"""Cross-products with the rows of one unit deleted, from the full data's (downdating).

For group-deletion diagnostics the model is refitted once per unit ``i`` of a level,
without that unit's rows ``R_i``. Every cross-product of :mod:`mixedext._engine.crossprod`
is a sum over rows, so the reduced model's are the full ones minus the contribution of
``R_i``:

* ``[X y]'[X y]`` loses ``sum_{r in R_i} w_r [x_r y_r]' [x_r y_r]``;
* each term's per-unit blocks ``Z_k'Z_k``, ``Z_k'[X y]`` lose the rows of ``R_i`` in the
  units they fall in (for the deleted level and the levels nested in it, whole units; for
  a crossed term, part of many units);
* each pair block ``Z_l'Z_k`` loses the products of ``R_i``'s rows; an entry whose unit
  pair has no row left is removed exactly (not left as a rounding residue, which would
  change the sparsity the factorisation plans on);
* units left with no rows are dropped from their term (their labels and row counts go
  with them), as a fit of the reduced data would never have seen them.

The rows are sorted by deleted unit once, so deleting ``R_i`` costs ``O(|R_i|)`` row work
plus a copy of the per-unit blocks (``O(units)``), never a pass over all rows.

Names: ``g`` the deleted level's unit of every row; ``K`` its number of units; for a
term ``k``, ``m_k`` units and ``q_k`` covariates; ``W = [X y]``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from mixedext._engine.crossprod import CrossProducts, RandomTerm

__all__ = ["UnitDeletion"]


class UnitDeletion:
    """Reduced random-effect terms and cross-products, one deleted unit at a time.

    Parameters
    ----------
    terms : list of RandomTerm
        The model's terms, with row codes.
    cp : CrossProducts
        The full data's cross-products (never modified).
    exog : ndarray (n, p)
    endog : ndarray (n,)
        The outcome the engine fits (offset removed).
    groups : ndarray of int (n,)
        The deleted level's unit ``0 .. n_groups - 1`` of every row.
    n_groups : int
    weights : ndarray (n,), optional
        Prior weights (the cross-products are weighted).
    """

    def __init__(self, terms, cp: CrossProducts, exog, endog, groups, n_groups: int,
                 weights=None):
        self.terms = list(terms)
        self.cp = cp
        self.n_groups = n_groups
        groups = np.asarray(groups, dtype=np.int64)
        self.order = np.argsort(groups, kind="stable")
        self.bounds = np.concatenate([[0], np.cumsum(np.bincount(groups, minlength=n_groups))])
        self.xy = np.column_stack([np.asarray(exog, dtype=float),
                                   np.asarray(endog, dtype=float)])
        self.weights = None if weights is None else np.asarray(weights, dtype=float)
        # row counts of every unit pair of two terms (to remove emptied pair entries)
        self.pair_counts = {}
        for (l, k) in cp.pairs:
            tl, tk = self.terms[l], self.terms[k]
            key = tl.codes.astype(np.int64) * tk.n_units + tk.codes
            uniq, counts = np.unique(key, return_counts=True)
            self.pair_counts[(l, k)] = (uniq, counts)

    def rows(self, i: int) -> np.ndarray:
        """The rows of unit ``i``."""
        return self.order[self.bounds[i]:self.bounds[i + 1]]

    def reduced(self, i: int) -> tuple[list[RandomTerm], CrossProducts]:
        """The terms and cross-products of the data without unit ``i``'s rows.

        Raises
        ------
        ValueError
            When a term would be left without units.
        """
        rows = self.rows(i)
        cp = self.cp
        xy = self.xy[rows]
        w = None if self.weights is None else self.weights[rows]
        wxy = xy if w is None else xy * w[:, None]
        xyxy = cp.xyxy - wxy.T @ xy
        terms, ztz, ztxy, counts, keeps, touched = [], [], [], [], [], []
        for t, block, zx, cnt in zip(self.terms, cp.ztz, cp.ztxy, cp.counts):
            codes = t.codes[rows]
            units, local = np.unique(codes, return_inverse=True)
            local = local.reshape(-1)
            left = cnt.copy()
            left[units] -= np.bincount(local, minlength=len(units))
            keep = left > 0
            if not keep.any():
                raise ValueError(f"deleting these rows leaves level {t.level!r} without units")
            gone = ~keep[units]
            partial = units[~gone]
            block, zx = block.copy(), zx.copy()
            if partial.size:  # units that keep some rows lose the deleted rows' products
                z = None if t.z is None else t.z[rows]
                dz, dzx = _unit_products(local, len(units), z, w, wxy, t.q)
                block[partial] -= dz[~gone]
                zx[partial] -= dzx[~gone]
            ztz.append(block[keep])
            ztxy.append(zx[keep])
            counts.append(left[keep])
            keeps.append(keep)
            touched.append((units, local, gone))
            terms.append(RandomTerm(level=t.level, codes=None,  # type: ignore[arg-type]
                                    unit_labels=t.unit_labels[keep],
                                    names=t.names, z=None, cov=t.cov, component=t.component,
                                    lhs=t.lhs, factors=t.factors, sizes=left[keep]))
        pairs = {(l, k): self._reduced_pair(l, k, rows, w, keeps, touched)
                 for (l, k) in cp.pairs}
        log_weights = cp.log_weights if w is None else cp.log_weights - float(np.sum(np.log(w)))
        out = replace(cp, n=cp.n - len(rows), xyxy=xyxy, ztz=ztz, ztxy=ztxy, pairs=pairs,
                      counts=counts, weights=None, log_weights=log_weights)
        return terms, out

    def _reduced_pair(self, l, k, rows, w, keeps, touched) -> sp.csr_matrix:
        """``Z_l'Z_k`` without the rows ``rows``, over the units each term keeps."""
        tl, tk = self.terms[l], self.terms[k]
        full = self.cp.pairs[(l, k)]
        keep_l = np.repeat(keeps[l], tl.q)
        keep_k = np.repeat(keeps[k], tk.q)
        # every deleted row lies in a dropped unit of l or of k: nothing left to subtract
        dropped_l = touched[l][2][touched[l][1]]
        dropped_k = touched[k][2][touched[k][1]]
        if np.all(dropped_l | dropped_k):
            return full[np.flatnonzero(keep_l)][:, np.flatnonzero(keep_k)].tocsr()
        cl, ck = tl.codes[rows], tk.codes[rows]
        r_idx, c_idx, vals = [], [], []
        for a in range(tl.q):
            for b in range(tk.q):
                v = np.ones(len(rows))
                if tl.z is not None:
                    v = v * tl.z[rows, a]
                if tk.z is not None:
                    v = v * tk.z[rows, b]
                if w is not None:
                    v = v * w
                r_idx.append(cl * tl.q + a)
                c_idx.append(ck * tk.q + b)
                vals.append(v)
        contrib = sp.csr_matrix((np.concatenate(vals),
                                 (np.concatenate(r_idx), np.concatenate(c_idx))),
                                shape=full.shape)
        reduced = (full - contrib).tocoo()
        # unit pairs with no row left: remove their entries exactly
        key = cl.astype(np.int64) * tk.n_units + ck
        hit, n_hit = np.unique(key, return_counts=True)
        uniq, n_all = self.pair_counts[(l, k)]
        emptied = hit[n_all[np.searchsorted(uniq, hit)] == n_hit]
        entry_key = (reduced.row // tl.q).astype(np.int64) * tk.n_units + reduced.col // tk.q
        data = np.where(np.isin(entry_key, emptied), 0.0, reduced.data)
        reduced = sp.csr_matrix((data, (reduced.row, reduced.col)), shape=full.shape)
        reduced.eliminate_zeros()
        return reduced[np.flatnonzero(keep_l)][:, np.flatnonzero(keep_k)].tocsr()


def _unit_products(local, m, z, w, wxy, q):
    """Per local unit, ``Z'WZ`` (m, q, q) and ``Z'W[X y]`` (m, q, p + 1) of some rows
    (``w`` their prior weights or None, ``wxy`` their weighted ``[X y]``)."""
    zt = np.ones((len(local), 1)) if z is None else z
    dz = np.empty((m, q, q))
    for a in range(q):
        for b in range(a + 1):
            prod = zt[:, a] * zt[:, b] if w is None else zt[:, a] * zt[:, b] * w
            dz[:, a, b] = np.bincount(local, weights=prod, minlength=m)
            dz[:, b, a] = dz[:, a, b]
    dzx = np.empty((m, q, wxy.shape[1]))
    for a in range(q):
        weighted = wxy * zt[:, a:a + 1]
        for j in range(wxy.shape[1]):
            dzx[:, a, j] = np.bincount(local, weights=weighted[:, j], minlength=m)
    return dz, dzx
