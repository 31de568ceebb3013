"""Data sets for mixed-effects models: classic R data and seeded simulations.

Classic data sets, shipped as CSV files in ``mixedext/datasets/data/`` (exported from R
by ``tests/reference/export_datasets.R``) and read with :func:`load`:

===============  =====  ==========================================================
name              rows  grouping factors (pandas ``Categorical``)
===============  =====  ==========================================================
``sleepstudy``     180  ``Subject`` (lme4; Belenky et al. 2003)
``pastes``          60  ``batch``, ``cask``, ``sample`` (lme4; Davies & Goldsmith 1972)
``penicillin``     144  ``plate``, ``sample`` (lme4; Davies & Goldsmith 1972)
``dyestuff``        30  ``Batch`` (lme4; Davies & Goldsmith 1972)
``dyestuff2``       30  ``Batch`` (lme4; Box & Tiao 1973)
``cbpp``            56  ``herd``, ``period`` (lme4; Lesnoff et al. 2004)
``orthodont``      108  ``Subject``, ``Sex`` (nlme; Potthoff & Roy 1964)
``ovary``          308  ``Mare`` (nlme; Pierson & Ginther 1987)
``bodyweight``     176  ``Rat``, ``Diet`` (nlme; Hand & Crowder 1996)
``bcg``             13  ``alloc`` (metafor's ``dat.bcg``; Colditz et al. 1994)
``grouseticks``    403  ``INDEX``, ``BROOD``, ``YEAR``, ``LOCATION`` (lme4; Elston et al. 2001)
``owls``           599  ``Nest``, ``FoodTreatment``, ``SexParent`` (glmmTMB; Roulin & Bersier 2007)
``salamanders``    644  ``site``, ``mined``, ``spp`` (glmmTMB; Price et al. 2016)
``earthquake``     182  ``Quake``, ``soil`` (nlme; Joyner & Boore 1981)
``insteval``     73421  ``s``, ``d``, ``studage``, ``lectage``, ``service``, ``dept`` (lme4)
===============  =====  ==========================================================

Simulated data sets (deterministic, one ``np.random.RandomState(seed)`` each):

* :func:`students` / :func:`students_truth` -- 50,000 students in 50 instructors in 5
  teaching methods (the seed notebook's teaching-method example);
* :func:`call_center` / :func:`call_center_truth` -- 695,205 calls by 193 reps in 10
  call centers, with the structure of the chapter-10 data of Buisson (2021),
  *Behavioral Data Analysis with R and Python*.

:func:`available` lists the names :func:`load` accepts.
"""

from __future__ import annotations

import re
from importlib import resources

import pandas as pd

from mixedext.datasets._simulate import (
    call_center,
    call_center_truth,
    ratings,
    students,
    students_truth,
)

__all__ = [
    "available",
    "call_center",
    "call_center_truth",
    "load",
    "ratings",
    "students",
    "students_truth",
]

# grouping columns of each classic data set; None = natural sort of the labels,
# a tuple = explicit level order (R's, where it is not the sorted one)
_FACTORS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "sleepstudy": {"Subject": None},
    "pastes": {"batch": None, "cask": None, "sample": None},
    "penicillin": {"plate": None, "sample": None},
    "dyestuff": {"Batch": None},
    "dyestuff2": {"Batch": None},
    "cbpp": {"herd": None, "period": None},
    "orthodont": {"Subject": None, "Sex": ("Male", "Female")},
    "ovary": {"Mare": None},
    "bodyweight": {"Rat": None, "Diet": None},
    "bcg": {"alloc": None},
    "grouseticks": {"INDEX": None, "BROOD": None, "YEAR": None, "LOCATION": None},
    "owls": {
        # R's (locale-collated) order: "Champmartin" before "ChEsard"
        "Nest": (
            "AutavauxTV", "Bochet", "Champmartin", "ChEsard", "Chevroux", "CorcellesFavres",
            "Etrabloz", "Forel", "Franex", "GDLV", "Gletterens", "Henniez", "Jeuss",
            "LesPlanches", "Lucens", "Lully", "Marnand", "Montet", "Murist", "Oleyes",
            "Payerne", "Rueyes", "Seiry", "Sevaz", "StAubin", "Trey", "Yvonnand",
        ),
        "FoodTreatment": None,
        "SexParent": None,
    },
    "salamanders": {
        "site": None,
        "mined": ("yes", "no"),
        "spp": ("GP", "PR", "DM", "EC-A", "EC-L", "DES-L", "DF"),
    },
    "earthquake": {"Quake": None, "soil": None},
    "insteval": {"s": None, "d": None, "studage": None, "lectage": None, "service": None,
                 "dept": ("15", "5", "10", "12", "6", "7", "4", "8", "9", "14", "1", "3",
                          "11", "2")},
}

_SUFFIXES = (".csv", ".csv.gz")
_DIGITS = re.compile(r"(\d+)")


def _data_root():
    """The ``data`` folder of this package, as an ``importlib.resources`` Traversable."""
    return resources.files(__name__).joinpath("data")


def _data_file(name: str):
    root = _data_root()
    for suffix in _SUFFIXES:
        f = root.joinpath(name + suffix)
        if f.is_file():
            return f
    return None


def _natural_key(label: str) -> tuple:
    """Sort key putting numeric runs in numeric order: "M2" < "M10", "9" < "10"."""
    parts = _DIGITS.split(label)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


def _natural_levels(values) -> list[str]:
    return sorted(pd.unique(values), key=_natural_key)


def available() -> list[str]:
    """List the names of the classic data sets that :func:`load` reads.

    Returns
    -------
    list of str
        The classic data sets (``"bcg"``, ``"bodyweight"``, ``"cbpp"``, ``"dyestuff"``,
        ``"dyestuff2"``, ``"earthquake"``, ``"grouseticks"``, ``"orthodont"``,
        ``"ovary"``, ``"owls"``, ``"pastes"``, ``"penicillin"``, ``"salamanders"``,
        ``"sleepstudy"``) plus any other CSV file found in the package's data folder,
        sorted. The simulated data sets are functions (:func:`students`,
        :func:`call_center`), not listed here.
    """
    names = set(_FACTORS)
    root = _data_root()
    try:
        entries = list(root.iterdir()) if root.is_dir() else []
    except (FileNotFoundError, NotADirectoryError):  # pragma: no cover - broken install
        entries = []
    for entry in entries:
        for suffix in _SUFFIXES:
            if entry.name.endswith(suffix) and entry.is_file():
                names.add(entry.name[: -len(suffix)].lower())
    return sorted(names)


def load(name: str) -> pd.DataFrame:
    """Load a classic mixed-model data set shipped with mixedext.

    The data are the R versions (lme4, nlme and metafor packages), exported to CSV with the
    original column names and row order by ``tests/reference/export_datasets.R``, and
    read with :mod:`importlib.resources` (so they load from an installed wheel too).

    Parameters
    ----------
    name : str
        One of :func:`available` (case-insensitive, so R's ``"Penicillin"`` works):

        ``"sleepstudy"``
            Reaction times (ms) of 18 sleep-deprived subjects over 10 days:
            ``Reaction``, ``Days``, ``Subject``. lme4; Belenky et al. (2003),
            *J. Sleep Research* 12, 1-12.
        ``"pastes"``
            Strength of a chemical paste, two assays of each of 3 casks of each of
            10 delivery batches (nested): ``strength``, ``batch``, ``cask``,
            ``sample`` (= ``batch:cask``). lme4; Davies & Goldsmith (1972),
            *Statistical Methods in Research and Production*, 4th ed., sec. 6.5.
        ``"penicillin"``
            Inhibition-zone diameters for 6 penicillin samples on 24 plates
            (crossed): ``diameter``, ``plate``, ``sample``. lme4; Davies &
            Goldsmith (1972), sec. 6.6.
        ``"dyestuff"``
            Yield of dyestuff from 5 preparations of each of 6 batches: ``Batch``,
            ``Yield``. lme4; Davies & Goldsmith (1972), sec. 6.4.
        ``"dyestuff2"``
            Constructed data of the same layout whose between-batch variance
            estimate is zero (a singular fit): ``Batch``, ``Yield``. lme4; Box &
            Tiao (1973), *Bayesian Inference in Statistical Analysis*, sec. 5.1.2.
        ``"cbpp"``
            Contagious bovine pleuropneumonia: new serological cases
            (``incidence``) out of ``size`` in 15 herds over 4 periods: ``herd``,
            ``incidence``, ``size``, ``period``. lme4; Lesnoff et al. (2004),
            *Preventive Veterinary Medicine* 64, 27-40.
        ``"orthodont"``
            Pituitary-pterygomaxillary distance (mm) of 27 children at ages 8, 10,
            12, 14: ``distance``, ``age``, ``Subject``, ``Sex``. nlme; Potthoff &
            Roy (1964), *Biometrika* 51, 313-326; Pinheiro & Bates (2000),
            *Mixed-Effects Models in S and S-PLUS*, app. A.17.
        ``"ovary"``
            Counts of large ovarian follicles in 11 mares over the estrus cycle
            (``Time`` scaled so ovulations are at 0 and 1): ``Mare``, ``Time``,
            ``follicles``. nlme; Pierson & Ginther (1987), *Animal Reproduction
            Science* 14, 219-231; Pinheiro & Bates (2000), app. A.18.
        ``"grouseticks"``
            Number of ticks (``TICKS``) on the heads of 403 red grouse chicks
            (``INDEX``) in 118 broods (``BROOD``) at 63 locations (``LOCATION``),
            years ``YEAR`` 95-97, ``HEIGHT`` above sea level (m), ``cHEIGHT`` =
            ``HEIGHT`` centred. lme4; Elston et al. (2001), *Parasitology* 122,
            563-569.
        ``"owls"``
            Begging by barn owl nestlings: ``SiblingNegotiation`` (count) in 27 nests
            (``Nest``) by ``FoodTreatment`` and ``SexParent``, with ``ArrivalTime``,
            ``BroodSize``, ``NegPerChick`` (= ``SiblingNegotiation / BroodSize``),
            ``logBroodSize``. glmmTMB; Roulin & Bersier (2007), *Animal Behaviour*
            74, 1099-1106; Zuur et al. (2009).
        ``"salamanders"``
            Counts (``count``) of salamanders (species ``spp``) in 23 streams
            (``site``), 4 samples each (``sample``), sites affected by coal mining or
            not (``mined``, levels ``"yes"``, ``"no"`` as in R), scaled covariates
            ``cover``, ``DOP``, ``Wtemp``, ``DOY``. glmmTMB; Price et al. (2016),
            *J. Applied Ecology* 53, 459-468.
        ``"earthquake"``
            Maximum horizontal acceleration (``accel``, g) at 182 stations for 23
            earthquakes (``Quake``) of magnitude ``Richter``, by ``distance`` to the
            epicenter (km) and ``soil`` (0/1). nlme; Joyner & Boore (1981),
            *Bull. Seismol. Soc. Am.* 71, 2011-2038; Pinheiro & Bates (2000),
            app. A.8.
        ``"bodyweight"``
            Body weights (g) of 16 rats on 3 diets, weekly over 64 days:
            ``weight``, ``Time``, ``Rat``, ``Diet``. nlme; Hand & Crowder (1996),
            *Practical Longitudinal Data Analysis*; Pinheiro & Bates (2000),
            app. A.3.
        ``"bcg"``
            13 trials of the BCG vaccine against tuberculosis: ``trial``, ``author``
            (a string), ``year``, the 2x2 counts ``tpos``, ``tneg`` (vaccinated, TB
            positive / negative), ``cpos``, ``cneg`` (controls), the absolute latitude
            ``ablat`` of the trial and the treatment allocation ``alloc``. metafor's
            ``dat.bcg`` (metadat); Colditz et al. (1994), *JAMA* 271, 698-702. The log
            risk ratios of metafor's ``escalc(measure = "RR")`` are
            ``log(tpos / (tpos + tneg)) - log(cpos / (cpos + cneg))`` with variances
            ``1/tpos - 1/(tpos + tneg) + 1/cpos - 1/(cpos + cneg)``.

    Returns
    -------
    pandas.DataFrame
        The data, a fresh copy on every call. Grouping columns (the factors listed
        in the module docstring) are unordered :class:`pandas.Categorical` with
        string labels as in R (``"308"``, ``"A:a"``, ``"M01"``). Their levels are
        sorted *naturally*: numeric parts of a label compare as numbers, so herd
        ``"2"`` comes before ``"10"`` and subject ``"M2"`` before ``"M10"``. This
        is R's level order for every lme4 factor and for ``Diet``; for Orthodont's
        ``Sex``, Salamanders' ``mined`` (``"yes"``, ``"no"``) and ``spp`` and
        Owls' ``Nest`` R's order is kept, so treatment contrasts match R's. nlme's
        *ordered* grouping factors (Orthodont ``Subject``, Ovary ``Mare``, BodyWeight
        ``Rat``) are ordered in R by a
        per-group summary (the maximum response), which only matters for plots;
        here they are plain, naturally sorted categoricals. Other columns keep the
        types ``pandas.read_csv`` gives them (int64 / float64; bcg's ``author``
        strings).

    Raises
    ------
    ValueError
        If ``name`` is not a known data set; the message lists the available names.
    FileNotFoundError
        If a known data set's CSV file is missing from the installation.

    See Also
    --------
    available : The accepted names.
    students, call_center : Simulated data sets.

    References
    ----------
    Bates, D., Mächler, M., Bolker, B. & Walker, S. (2015). Fitting linear
    mixed-effects models using lme4. *Journal of Statistical Software* 67(1).

    Pinheiro, J. C. & Bates, D. M. (2000). *Mixed-Effects Models in S and S-PLUS.*
    Springer.

    Examples
    --------
    >>> from mixedext import datasets
    >>> df = datasets.load("sleepstudy")
    >>> df.shape
    (180, 3)
    >>> df["Subject"].cat.categories[:3].tolist()
    ['308', '309', '310']
    >>> datasets.load("Penicillin").columns.tolist()
    ['diameter', 'plate', 'sample']
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = name.strip().lower()
    names = available()
    if key not in names:
        raise ValueError(
            f"unknown data set {name!r}; available: {', '.join(names)} "
            "(simulated data: mixedext.datasets.students(), call_center())"
        )
    path = _data_file(key)
    if path is None:
        raise FileNotFoundError(
            f"the CSV file of data set {key!r} is missing from mixedext/datasets/data/ "
            "(regenerate it with tests/reference/export_datasets.R)"
        )
    factors = _FACTORS.get(key, {})
    compression = "gzip" if path.name.endswith(".gz") else None
    with path.open("rb") as fh:
        df = pd.read_csv(fh, dtype={col: str for col in factors}, compression=compression)
    for col, levels in factors.items():
        if col not in df.columns:
            raise ValueError(
                f"data set {key!r}: column {col!r} missing from {path.name} "
                f"(columns: {', '.join(map(str, df.columns))})"
            )
        values = df[col].astype(object)
        if levels is None:
            order = _natural_levels(values)
        else:
            order = list(levels)
            unexpected = set(values) - set(order)
            if unexpected:
                raise ValueError(
                    f"data set {key!r}: unexpected labels {sorted(unexpected)} in {col!r}"
                )
        df[col] = pd.Categorical(values, categories=order)
    return df
