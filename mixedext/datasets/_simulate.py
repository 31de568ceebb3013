"""Seeded simulators for the two worked examples of the seed notebook.

Both generators draw every random number from ONE ``np.random.RandomState(seed)``,
whose stream is stable across numpy versions, so a seed reproduces the same data
on every platform. Each data set has a companion ``*_truth`` function that
returns the generating parameters and the drawn random effects (same seed, same
draws), so that fitted models can be checked against the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["call_center", "call_center_truth", "ratings", "students", "students_truth"]


# ---------------------------------------------------------------------------
# students: teaching methods > instructors > students
# ---------------------------------------------------------------------------

_N_STUDENT = 50_000
_N_INSTRUCTOR = 50
_N_METHOD = 5
_GPA_MEAN, _GPA_SD = 3.0, 0.25
_INTERCEPT, _SLOPE = 15.0, 19.0
_NOISE_SD = 10.0
_EFFECT_MEAN, _EFFECT_SD = 1.0, 0.1
_SCORE_MAX = 100.0


def _draw_assignment(rs: np.random.RandomState, n_items: int, n_groups: int) -> np.ndarray:
    """Assign ``n_items`` items to ``n_groups`` groups of equal size, as the notebook does.

    Group ``g`` (in order 0, 1, ...) draws its members without replacement from the
    sorted pool of items not yet assigned. The notebook calls
    ``np.random.choice(pool, size, replace=False)`` and then ``np.setdiff1d``; here the
    same positions are drawn with ``rs.choice(len(pool), size, replace=False)`` (the
    same single permutation of the generator) and removed with ``np.delete``, which
    keeps the pool sorted exactly as ``setdiff1d`` does, so the draws (and hence the
    data) are the notebook's for the same state of the generator.
    """
    per_group = n_items // n_groups
    pool = np.arange(n_items, dtype=np.int64)
    group_of = np.empty(n_items, dtype=np.int64)
    for g in range(n_groups):
        pos = rs.choice(pool.size, size=per_group, replace=False)
        group_of[pool[pos]] = g
        pool = np.delete(pool, pos)
    return group_of


def _simulate_students(seed: int) -> tuple[pd.DataFrame, dict]:
    rs = np.random.RandomState(seed)
    # 1) students -> instructors, 2) instructors -> methods (notebook order of draws)
    instructor = _draw_assignment(rs, _N_STUDENT, _N_INSTRUCTOR)
    method_of_instructor = _draw_assignment(rs, _N_INSTRUCTOR, _N_METHOD)
    method = method_of_instructor[instructor]
    # 3) multiplicative instructor and method effects; method 0 is the reference
    instructor_effect = rs.normal(loc=_EFFECT_MEAN, scale=_EFFECT_SD, size=_N_INSTRUCTOR)
    method_effect = rs.normal(loc=_EFFECT_MEAN, scale=_EFFECT_SD, size=_N_METHOD)
    method_effect[0] = 1.0
    hs_gpa = rs.normal(loc=_GPA_MEAN, scale=_GPA_SD, size=_N_STUDENT)  # not clipped (see docs)
    ie = instructor_effect[instructor]
    me = method_effect[method]
    # same order of floating-point operations as the notebook
    score = (_INTERCEPT + _SLOPE * hs_gpa) * ie * me + rs.normal(
        loc=0.0, scale=_NOISE_SD, size=_N_STUDENT
    )
    score[score >= _SCORE_MAX] = _SCORE_MAX

    df = pd.DataFrame(
        {
            "student": np.arange(_N_STUDENT, dtype=np.int64),
            "instructor": instructor,
            "method": method,
            "hs_gpa": hs_gpa,
            "instructor_effect": ie,
            "method_effect": me,
            "score": score,
        }
    )
    truth = {
        "instructor_effect": pd.Series(
            instructor_effect,
            index=pd.RangeIndex(_N_INSTRUCTOR, name="instructor"),
            name="instructor_effect",
        ),
        "method_effect": pd.Series(
            method_effect, index=pd.RangeIndex(_N_METHOD, name="method"), name="method_effect"
        ),
        "method_of_instructor": pd.Series(
            method_of_instructor,
            index=pd.RangeIndex(_N_INSTRUCTOR, name="instructor"),
            name="method",
        ),
        "intercept": _INTERCEPT,
        "slope": _SLOPE,
        "noise_sd": _NOISE_SD,
        "hs_gpa_mean": _GPA_MEAN,
        "hs_gpa_sd": _GPA_SD,
        "effect_sd": _EFFECT_SD,
        "score_max": _SCORE_MAX,
        "seed": seed,
    }
    return df, truth


def students(*, seed: int = 2022) -> pd.DataFrame:
    """Simulated scores of 50,000 college students, nested in instructors and methods.

    The teaching-method example of the seed notebook (``000_4f6f6bd84974856b``,
    "College student performance given different teaching methods"), made
    reproducible: all draws come from one ``np.random.RandomState(seed)`` in the
    notebook's order, so ``students(seed=s)`` equals the notebook's data frame
    after ``np.random.seed(s)``.

    Design (three nested levels):

    * 50,000 students, assigned at random to 50 instructors, 1,000 each;
    * the 50 instructors assigned at random to 5 teaching methods, 10 each
      (every instructor teaches with exactly one method);
    * ``instructor_effect ~ N(1, 0.1²)`` per instructor and
      ``method_effect ~ N(1, 0.1²)`` per method, with method 0's effect set
      to 1 (the reference method);
    * ``hs_gpa ~ N(3, 0.25²)`` per student;
    * ``score = (15 + 19 * hs_gpa) * instructor_effect * method_effect + N(0, 10²)``,
      then clipped from above at 100.

    The effects are *multiplicative*, so a linear mixed model
    ``score ~ hs_gpa + C(method)`` with an instructor intercept is an
    approximation: its method coefficients are on the score scale, not the
    ``method_effect - 1`` of the truth (see :func:`students_truth`).

    Parameters
    ----------
    seed : int, default 2022
        Seed of the ``np.random.RandomState`` that draws everything.

    Returns
    -------
    pandas.DataFrame
        50,000 rows, one per student (sorted by ``student``), columns

        ``student`` (int64)
            Student id, 0 ... 49,999.
        ``instructor`` (int64)
            Instructor id, 0 ... 49.
        ``method`` (int64)
            Teaching method of the instructor, 0 ... 4.
        ``hs_gpa`` (float64)
            High-school GPA.
        ``instructor_effect``, ``method_effect`` (float64)
            The true multiplicative effects of the student's instructor and method.
        ``score`` (float64)
            The outcome, at most 100.

    See Also
    --------
    students_truth : The generating parameters and drawn effects.

    Notes
    -----
    The notebook's line ``df.loc[df['hs_gpa'] > 4] == 4`` is meant to cap the GPA
    at 4 but is a comparison, not an assignment, so it does nothing. The data are
    kept as the notebook generates them: ``hs_gpa`` is **not** clipped (a GPA
    above 4 is a 4-standard-deviation event, expected about 1.6 times in 50,000
    students). Only ``score`` is clipped, at 100.
    """
    return _simulate_students(seed)[0]


def students_truth(*, seed: int = 2022) -> dict:
    """The generating truth of :func:`students` for the same seed.

    Runs the same simulation (same generator, same draws) and returns its parameters.

    Parameters
    ----------
    seed : int, default 2022
        Seed passed to :func:`students`.

    Returns
    -------
    dict
        ``instructor_effect``
            :class:`pandas.Series` of the 50 multiplicative instructor effects,
            indexed by ``instructor``.
        ``method_effect``
            :class:`pandas.Series` of the 5 multiplicative method effects, indexed by
            ``method`` (method 0's is exactly 1).
        ``method_of_instructor``
            :class:`pandas.Series`, the method each instructor uses.
        ``intercept``, ``slope``
            15 and 19: ``score = (intercept + slope * hs_gpa) * effects + noise``.
        ``noise_sd``
            10, the standard deviation of the student-level noise.
        ``hs_gpa_mean``, ``hs_gpa_sd``
            3 and 0.25.
        ``effect_sd``
            0.1, the standard deviation of the instructor and method effects (mean 1).
        ``score_max``
            100, where ``score`` is clipped.
        ``seed``
            The seed.

    Notes
    -----
    Source: the seed notebook ``000_4f6f6bd84974856b`` (teaching-method example).
    """
    return _simulate_students(seed)[1]


# ---------------------------------------------------------------------------
# call_center: centers > reps > calls
# ---------------------------------------------------------------------------

# structure of chap10-historical_data.csv (Buisson 2021, chapter 10), as shown in
# the seed notebook: reps per center, total calls, smallest and largest center
_CENTER_REPS = (18, 21, 22, 15, 21, 21, 19, 19, 19, 18)
_N_CALLS = 695_205
_MIN_CENTER_CALLS = 54_203
_MAX_CENTER_CALLS = 79_250
_REP_ALPHA = 4.0  # Dirichlet concentration of the calls over a center's reps

_CSAT_INTERCEPT = 3.9
_BETA_PROPERTY = 0.2
_BETA_AGE = 0.02
_SD_CENTER = 0.55
_SD_REP = 1.2
_SD_RESID = 0.625
_P_PROPERTY = 0.4
_AGE_MEAN, _AGE_SD, _AGE_MIN, _AGE_MAX = 45.0, 12.0, 18, 80
_P_ZERO_SPEND = 0.4
_SPEND_LOG_MEAN = 4.0  # log spend at age 45 and CSAT 5
_SPEND_AGE = -0.02  # per year of age, on the log scale
_SPEND_CSAT = 0.1  # per CSAT point, on the log scale
_SPEND_LOG_SD = 0.75


def _simulate_call_center(seed: int) -> tuple[pd.DataFrame, dict]:
    rs = np.random.RandomState(seed)
    reps = np.asarray(_CENTER_REPS, dtype=np.int64)
    n_centers = reps.size
    n_reps = int(reps.sum())

    # calls per center: the center with the fewest reps gets the smallest count, the
    # one with the most reps the largest (as in the original, where calls per rep are
    # about equal across centers); the rest split the remainder in proportion to reps
    center_calls = np.empty(n_centers, dtype=np.int64)
    i_min, i_max = int(np.argmin(reps)), int(np.argmax(reps))
    center_calls[i_min] = _MIN_CENTER_CALLS
    center_calls[i_max] = _MAX_CENTER_CALLS
    others = np.setdiff1d(np.arange(n_centers), [i_min, i_max])
    rest = _N_CALLS - _MIN_CENTER_CALLS - _MAX_CENTER_CALLS
    center_calls[others] = rs.multinomial(rest, reps[others] / reps[others].sum())
    inner = center_calls[others]
    if inner.min() <= _MIN_CENTER_CALLS or inner.max() >= _MAX_CENTER_CALLS:
        # ~3,600 calls per rep with a multinomial sd of ~260 per center: unreachable
        raise RuntimeError("call_center: center sizes out of range; choose another seed")

    # calls per rep: Dirichlet weights within each center, at least one call per rep
    rep_center = np.repeat(np.arange(n_centers), reps)  # 0-based center of each rep
    weights = rs.gamma(_REP_ALPHA, size=n_reps)
    rep_calls = np.empty(n_reps, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(reps)))
    for c in range(n_centers):  # 10 multinomial draws
        lo, hi = starts[c], starts[c + 1]
        w = weights[lo:hi]
        rep_calls[lo:hi] = 1 + rs.multinomial(center_calls[c] - (hi - lo), w / w.sum())

    u_center = rs.normal(0.0, _SD_CENTER, size=n_centers)
    u_rep = rs.normal(0.0, _SD_REP, size=n_reps)

    # one row per call, sorted by center then rep (rep ids are consecutive by center)
    n = _N_CALLS
    row_rep = np.repeat(np.arange(n_reps), rep_calls)
    row_center = rep_center[row_rep]
    age = np.clip(np.rint(rs.normal(_AGE_MEAN, _AGE_SD, size=n)), _AGE_MIN, _AGE_MAX)
    age = age.astype(np.int64)
    is_property = rs.random_sample(n) < _P_PROPERTY
    month = rs.randint(1, 13, size=n).astype(np.int64)
    csat = (
        _CSAT_INTERCEPT
        + _BETA_PROPERTY * is_property
        + _BETA_AGE * age
        + u_center[row_center]
        + u_rep[row_rep]
        + rs.normal(0.0, _SD_RESID, size=n)
    )
    spends = rs.random_sample(n) >= _P_ZERO_SPEND
    log_spend = (
        _SPEND_LOG_MEAN
        + _SPEND_AGE * (age - _AGE_MEAN)
        + _SPEND_CSAT * (csat - 5.0)
        + rs.normal(0.0, _SPEND_LOG_SD, size=n)
    )
    m6spend = np.where(spends, np.exp(log_spend), 0.0)

    reason = np.array(["payment", "property"], dtype=object)[is_property.astype(np.intp)]
    df = pd.DataFrame(
        {
            "center_ID": (row_center + 1).astype(np.int64),
            "rep_ID": (row_rep + 1).astype(np.int64),
            "age": age,
            "reason": pd.Series(reason, dtype=object),
            "month": month,
            "call_CSAT": csat,
            "M6Spend": m6spend,
        }
    )

    center_index = pd.RangeIndex(1, n_centers + 1, name="center_ID")
    rep_index = pd.RangeIndex(1, n_reps + 1, name="rep_ID")
    truth = {
        "center_effect": pd.Series(u_center, index=center_index, name="center_effect"),
        "rep_effect": pd.Series(u_rep, index=rep_index, name="rep_effect"),
        "rep_center": pd.Series(rep_center + 1, index=rep_index, name="center_ID"),
        "calls_per_center": pd.Series(center_calls, index=center_index, name="calls"),
        "calls_per_rep": pd.Series(rep_calls, index=rep_index, name="calls"),
        "fe_params": pd.Series(
            [_CSAT_INTERCEPT, _BETA_PROPERTY, _BETA_AGE],
            index=["Intercept", "reason[T.property]", "age"],
            name="fe_params",
        ),
        "intercept": _CSAT_INTERCEPT,
        "beta_property": _BETA_PROPERTY,
        "beta_age": _BETA_AGE,
        "sd_center": _SD_CENTER,
        "sd_rep": _SD_REP,
        "sd_resid": _SD_RESID,
        "var_center": _SD_CENTER**2,
        "var_rep": _SD_REP**2,
        "var_resid": _SD_RESID**2,
        "p_property": _P_PROPERTY,
        "age_mean": _AGE_MEAN,
        "age_sd": _AGE_SD,
        "rep_alpha": _REP_ALPHA,
        "p_zero_spend": _P_ZERO_SPEND,
        "spend_log_mean": _SPEND_LOG_MEAN,
        "spend_age": _SPEND_AGE,
        "spend_csat": _SPEND_CSAT,
        "spend_log_sd": _SPEND_LOG_SD,
        "seed": seed,
    }
    return df, truth


def call_center(*, seed: int = 10) -> pd.DataFrame:
    """Synthetic customer-service calls nested in representatives nested in call centers.

    A stand-in for ``chap10-historical_data.csv`` of Buisson (2021), *Behavioral
    Data Analysis with R and Python*, O'Reilly, chapter 10 ("Cluster
    Randomization and Hierarchical Modeling"), used by the seed notebook
    (``000_4f6f6bd84974856b``). The original file cannot be downloaded here, so
    this generator reproduces its *structure* exactly and its *model* as the
    notebook's mixed-model fits describe it; the values are not the original's.

    Structure:

    * 695,205 calls (rows), sorted by center and then rep;
    * 10 centers, ``center_ID`` 1 ... 10, with 18, 21, 22, 15, 21, 21, 19, 19, 19
      and 18 reps (193 in all);
    * ``rep_ID`` 1 ... 193, numbered globally and consecutively by center (reps 1-18
      work in center 1, 19-39 in center 2, ...), each rep in exactly one center;
    * calls per center from 54,203 (center 4, the fewest reps) to 79,250 (center 3,
      the most reps); the other centers share the rest in proportion to their reps
      (multinomial), so every center lies strictly in between;
    * within a center, calls are spread unequally over the reps
      (Dirichlet(4) weights, then multinomial; every rep has at least one call).

    Model, for call ``i`` of rep ``r`` in center ``c``::

        call_CSAT = 3.9 + 0.2 [reason == "property"] + 0.02 age + u_c + u_r + e_i
        u_c ~ N(0, 0.55²)   (variance 0.3025)
        u_r ~ N(0, 1.2²)    (variance 1.44)
        e_i ~ N(0, 0.625²)  (variance 0.390625)

    with ``age`` = round(N(45, 12²)) clipped to 18 ... 80, ``reason`` "property"
    with probability 0.4 (else "payment"), ``month`` uniform on 1 ... 12 (no
    effect). ``call_CSAT`` is not clipped to the 0-10 scale of the original.
    ``M6Spend`` (spend over the next six months) is 0 with probability 0.4 and
    otherwise lognormal, ``exp(4 - 0.02 (age - 45) + 0.1 (call_CSAT - 5) + N(0, 0.75²))``.

    Parameters
    ----------
    seed : int, default 10
        Seed of the ``np.random.RandomState`` that draws everything.

    Returns
    -------
    pandas.DataFrame
        695,205 rows; columns ``center_ID``, ``rep_ID``, ``age``, ``month`` (int64),
        ``reason`` (object: "payment" / "property"), ``call_CSAT`` and ``M6Spend``
        (float64), in the original's order
        ``center_ID, rep_ID, age, reason, month, call_CSAT, M6Spend``.

    See Also
    --------
    call_center_truth : The drawn center and rep effects and all parameters.

    Notes
    -----
    Fully vectorised; builds in about a tenth of a second. As in the original, rep
    labels are unique across centers, so ``rep_ID`` can be used alone or nested in
    ``center_ID``. The notebook fits ``call_CSAT ~ reason + age`` with a
    ``center_ID`` random intercept and a ``rep_ID`` variance component; the
    generating values are in :func:`call_center_truth`.

    References
    ----------
    Buisson, F. (2021). *Behavioral Data Analysis with R and Python.* O'Reilly
    Media, chapter 10. Data repository:
    https://github.com/FlorentBuissonOReilly/BehavioralDataAnalysis
    """
    return _simulate_call_center(seed)[0]


def call_center_truth(*, seed: int = 10) -> dict:
    """The generating truth of :func:`call_center` for the same seed.

    Runs the same simulation (same generator, same draws) and returns its parameters.

    Parameters
    ----------
    seed : int, default 10
        Seed passed to :func:`call_center`.

    Returns
    -------
    dict
        ``center_effect``
            :class:`pandas.Series` of the 10 drawn center intercepts ``u_c``,
            indexed by ``center_ID`` (1 ... 10).
        ``rep_effect``
            :class:`pandas.Series` of the 193 drawn rep intercepts ``u_r``, indexed
            by ``rep_ID`` (1 ... 193).
        ``rep_center``
            :class:`pandas.Series`: the ``center_ID`` of each rep.
        ``calls_per_center``, ``calls_per_rep``
            :class:`pandas.Series` of row counts.
        ``fe_params``
            :class:`pandas.Series` of the fixed effects under patsy's names
            (``Intercept`` 3.9, ``reason[T.property]`` 0.2, ``age`` 0.02).
        ``intercept``, ``beta_property``, ``beta_age``
            The same three numbers.
        ``sd_center``, ``sd_rep``, ``sd_resid``; ``var_center``, ``var_rep``, ``var_resid``
            0.55, 1.2, 0.625 and their squares.
        ``p_property``, ``age_mean``, ``age_sd``, ``rep_alpha``
            0.4, 45, 12 and the Dirichlet concentration 4.
        ``p_zero_spend``, ``spend_log_mean``, ``spend_age``, ``spend_csat``, ``spend_log_sd``
            The ``M6Spend`` model: 0.4, 4, -0.02, 0.1, 0.75.
        ``seed``
            The seed.
    """
    return _simulate_call_center(seed)[1]


def ratings(*, n_users: int = 6040, n_items: int = 3706, n_ratings: int = 1_000_209,
            seed: int = 1) -> pd.DataFrame:
    """Simulate ratings with the shape of MovieLens-1M: users x items, crossed.

    ``n_users`` users rate ``n_ratings`` (user, item) pairs in all, each user at least 20
    items (as in MovieLens-1M); activity per user is heavy-tailed (log-normal, a few users
    rate thousands of items) and items are chosen with Zipf-like popularity.
    Deterministic for a given ``seed``; the model for it is
    ``rating ~ 1 + (1 | user) + (1 | item)``.

    Parameters
    ----------
    n_users : int, default 6040
        Number of users (MovieLens-1M's).
    n_items : int, default 3706
        Number of items (MovieLens-1M's).
    n_ratings : int, default 1000209
        Number of ratings (rows); each user rates at least 20 items, so give at least
        ``20 * n_users``.
    seed : int, default 1
        Seed of the ``np.random.RandomState`` that draws everything.

    Returns
    -------
    pandas.DataFrame
        ``n_ratings`` rows, columns ``user`` and ``item`` (int codes) and ``rating``
        (1 to 5).

    Notes
    -----
    A rating is ``3.6 + u_user + v_item + e`` rounded and clipped to 1..5, with
    ``u ~ N(0, 0.45^2)``, ``v ~ N(0, 0.5^2)``, ``e ~ N(0, 0.9^2)``; an item's
    popularity is proportional to ``1 / rank^0.9`` (ranks permuted at random).
    """
    rs = np.random.RandomState(seed)
    extra = rs.lognormal(mean=0.0, sigma=1.2, size=n_users)
    counts = 20 + np.floor(extra / extra.sum() * (n_ratings - 20 * n_users)).astype(int)
    counts = np.minimum(counts, n_items)
    while counts.sum() < n_ratings:  # exactly n_ratings: top up users below the cap
        room = np.flatnonzero(counts < n_items)
        short = n_ratings - int(counts.sum())
        counts[room[:short]] += 1
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    popularity = popularity[rs.permutation(n_items)]
    popularity /= popularity.sum()
    users, items = [], []
    for u, k in enumerate(counts):
        users.append(np.full(k, u))
        items.append(rs.choice(n_items, size=k, replace=False, p=popularity))
    user = np.concatenate(users)
    item = np.concatenate(items)
    mean = 3.6 + 0.45 * rs.randn(n_users)[user] + 0.5 * rs.randn(n_items)[item]
    rating = np.clip(np.round(mean + 0.9 * rs.randn(len(user))), 1, 5)
    return pd.DataFrame({"user": user, "item": item, "rating": rating})
