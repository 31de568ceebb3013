"""Tests of mixedext.datasets: the CSV loaders and the seeded simulators."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest

from mixedext import datasets

# ---------------------------------------------------------------------------
# loaders
# ---------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwx"

# name -> (shape, columns in R order, {factor: expected levels})
EXPECTED = {
    "sleepstudy": (
        (180, 3),
        ["Reaction", "Days", "Subject"],
        {
            "Subject": [
                str(s)
                for s in (308, 309, 310, 330, 331, 332, 333, 334, 335, 337, 349, 350, 351, 352)
                + (369, 370, 371, 372)
            ]
        },
    ),
    "pastes": (
        (60, 4),
        ["strength", "batch", "cask", "sample"],
        {
            "batch": list("ABCDEFGHIJ"),
            "cask": list("abc"),
            "sample": [f"{b}:{c}" for b in "ABCDEFGHIJ" for c in "abc"],
        },
    ),
    "penicillin": (
        (144, 3),
        ["diameter", "plate", "sample"],
        {"plate": list(_LETTERS), "sample": list("ABCDEF")},
    ),
    "dyestuff": ((30, 2), ["Batch", "Yield"], {"Batch": list("ABCDEF")}),
    "dyestuff2": ((30, 2), ["Batch", "Yield"], {"Batch": list("ABCDEF")}),
    "cbpp": (
        (56, 4),
        ["herd", "incidence", "size", "period"],
        {"herd": [str(i) for i in range(1, 16)], "period": ["1", "2", "3", "4"]},
    ),
    "orthodont": (
        (108, 4),
        ["distance", "age", "Subject", "Sex"],
        {
            "Subject": [f"F{i:02d}" for i in range(1, 12)] + [f"M{i:02d}" for i in range(1, 17)],
            "Sex": ["Male", "Female"],
        },
    ),
    "ovary": ((308, 3), ["Mare", "Time", "follicles"], {"Mare": [str(i) for i in range(1, 12)]}),
    "bodyweight": (
        (176, 4),
        ["weight", "Time", "Rat", "Diet"],
        {"Rat": [str(i) for i in range(1, 17)], "Diet": ["1", "2", "3"]},
    ),
    "bcg": (
        (13, 9),
        ["trial", "author", "year", "tpos", "tneg", "cpos", "cneg", "ablat", "alloc"],
        {"alloc": ["alternate", "random", "systematic"]},
    ),
}
TEXT_COLUMNS = {"bcg": {"author"}}  # string labels, neither factors nor numbers


def _csv_present(name: str) -> bool:
    root = resources.files("mixedext.datasets").joinpath("data")
    return any(root.joinpath(name + s).is_file() for s in (".csv", ".csv.gz"))


def test_available_lists_the_classic_sets():
    names = datasets.available()
    assert set(EXPECTED) <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load(name):
    if not _csv_present(name):
        pytest.skip(f"{name}.csv not shipped yet")
    shape, columns, factors = EXPECTED[name]
    df = datasets.load(name)
    assert df.shape == shape
    assert list(df.columns) == columns
    for col, levels in factors.items():
        assert isinstance(df[col].dtype, pd.CategoricalDtype), col
        assert not df[col].cat.ordered
        assert list(df[col].cat.categories) == levels, col
        assert df[col].notna().all()
    text = TEXT_COLUMNS.get(name, set())
    for col in text:
        assert pd.api.types.is_string_dtype(df[col]), col
    for col in set(columns) - set(factors) - text:
        assert pd.api.types.is_numeric_dtype(df[col]), col
        assert df[col].notna().all()
    # a fresh copy every time, and case-insensitive names
    df2 = datasets.load(name.capitalize())
    pd.testing.assert_frame_equal(df, df2)
    numeric = next(c for c in columns if c not in factors)
    df2.loc[0, numeric] = -1
    assert datasets.load(name)[numeric].iloc[0] != -1


def test_load_known_values():
    if not _csv_present("sleepstudy"):
        pytest.skip("sleepstudy.csv not shipped yet")
    df = datasets.load("sleepstudy")
    assert df["Days"].tolist()[:10] == list(range(10))
    assert df["Reaction"].iloc[0] == pytest.approx(249.56, abs=1e-2)
    assert (df["Subject"].value_counts() == 10).all()


def test_load_unknown_name():
    with pytest.raises(ValueError, match="available: .*sleepstudy"):
        datasets.load("no_such_data")


def test_loader_on_fake_data(tmp_path, monkeypatch):
    """The loader path, independent of the shipped CSVs: natural sort, R order, gz, extras."""
    (tmp_path / "cbpp.csv").write_text(
        '"herd","incidence","size","period"\n'
        '"10",1,5,"2"\n"2",0,4,"1"\n"1",3,9,"10"\n"9",2,7,"1"\n'
    )
    (tmp_path / "orthodont.csv").write_text(
        '"distance","age","Subject","Sex"\n'
        '26,8,"M10","Male"\n25,10,"M2","Male"\n21,8,"F1","Female"\n'
    )
    import gzip

    with gzip.open(tmp_path / "dyestuff.csv.gz", "wt") as fh:
        fh.write('"Batch","Yield"\n"B",1\n"A",2\n')
    (tmp_path / "extra.csv").write_text("x,y\n1,2\n")
    monkeypatch.setattr(datasets, "_data_root", lambda: tmp_path)

    cb = datasets.load("cbpp")
    assert list(cb["herd"].cat.categories) == ["1", "2", "9", "10"]
    assert list(cb["period"].cat.categories) == ["1", "2", "10"]
    assert cb["herd"].tolist() == ["10", "2", "1", "9"]
    assert cb["incidence"].dtype == np.int64
    orth = datasets.load("orthodont")
    assert list(orth["Subject"].cat.categories) == ["F1", "M2", "M10"]
    assert list(orth["Sex"].cat.categories) == ["Male", "Female"]
    dy = datasets.load("dyestuff")
    assert list(dy["Batch"].cat.categories) == ["A", "B"]
    assert "extra" in datasets.available()
    assert datasets.load("extra").shape == (1, 2)
    with pytest.raises(FileNotFoundError, match="sleepstudy"):
        datasets.load("sleepstudy")
    (tmp_path / "pastes.csv").write_text("strength,batch\n1,A\n")
    with pytest.raises(ValueError, match="cask"):
        datasets.load("pastes")


# ---------------------------------------------------------------------------
# students
# ---------------------------------------------------------------------------

STUDENT_COLUMNS = [
    "student",
    "instructor",
    "method",
    "hs_gpa",
    "instructor_effect",
    "method_effect",
    "score",
]


@pytest.fixture(scope="module")
def students_df():
    return datasets.students()


def test_students_shape_and_dtypes(students_df):
    df = students_df
    assert df.shape == (50_000, 7)
    assert list(df.columns) == STUDENT_COLUMNS
    for col in ["student", "instructor", "method"]:
        assert df[col].dtype == np.int64
    for col in ["hs_gpa", "instructor_effect", "method_effect", "score"]:
        assert df[col].dtype == np.float64
    assert (df["student"].to_numpy() == np.arange(50_000)).all()


def test_students_design(students_df):
    df = students_df
    assert (df.groupby("instructor").size() == 1000).all()
    assert df["instructor"].nunique() == 50
    methods_per_instructor = df.groupby("instructor")["method"].nunique()
    assert (methods_per_instructor == 1).all()
    instructors_per_method = df.groupby("method")["instructor"].nunique()
    assert instructors_per_method.index.tolist() == [0, 1, 2, 3, 4]
    assert (instructors_per_method == 10).all()
    assert df["score"].max() <= 100
    assert (df.loc[df["method"] == 0, "method_effect"] == 1.0).all()


def test_students_truth(students_df):
    df = students_df
    truth = datasets.students_truth()
    assert truth["slope"] == 19 and truth["intercept"] == 15 and truth["noise_sd"] == 10
    ie, me = truth["instructor_effect"], truth["method_effect"]
    assert len(ie) == 50 and len(me) == 5 and me[0] == 1.0
    np.testing.assert_array_equal(df["instructor_effect"], ie.to_numpy()[df["instructor"]])
    np.testing.assert_array_equal(df["method_effect"], me.to_numpy()[df["method"]])
    np.testing.assert_array_equal(
        truth["method_of_instructor"].to_numpy()[df["instructor"]], df["method"]
    )
    # away from the cap at 100, residuals are the N(0, 10^2) noise
    mean = (15 + 19 * df["hs_gpa"]) * df["instructor_effect"] * df["method_effect"]
    resid = (df["score"] - mean)[mean < 70]
    assert len(resid) > 10_000
    assert abs(resid.std() - 10) < 0.2
    assert abs(resid.mean()) < 0.2


def test_students_gpa_not_clipped(students_df):
    gpa = students_df["hs_gpa"]
    assert abs(gpa.mean() - 3) < 0.01 and abs(gpa.std() - 0.25) < 0.005
    # the seed notebook's `df.loc[df['hs_gpa'] > 4] == 4` is a no-op; nothing is capped
    assert (gpa != 4.0).all()


def test_students_determinism(students_df):
    pd.testing.assert_frame_equal(datasets.students(), students_df)
    other = datasets.students(seed=1)
    assert not np.array_equal(other["score"], students_df["score"])
    assert not np.array_equal(other["instructor"], students_df["instructor"])


def test_students_equals_seed_notebook():
    """students(seed=s) is the notebook's data frame after np.random.seed(s)."""
    seed = 7
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        num_student, num_instructor, num_method = 50000, 50, 5
        all_students = np.arange(0, num_student, step=1)
        all_instructors = np.arange(0, num_instructor, step=1)
        all_methods = np.arange(0, num_method, 1)
        students_per_instructor = int(num_student / num_instructor)
        instructors_per_method = int(num_instructor / num_method)
        student_assignment = []
        for i in all_instructors:
            assigned = np.random.choice(all_students, size=students_per_instructor, replace=False)
            instructor = np.repeat(i, repeats=students_per_instructor)
            student_assignment.extend(np.column_stack((assigned, instructor)).tolist())
            all_students = np.setdiff1d(all_students, assigned)
        df1 = (
            pd.DataFrame(student_assignment, columns=["student", "instructor"])
            .sort_values(by="student")
            .reset_index(drop=True)
        )
        instructor_assignment = []
        for i in all_methods:
            assigned = np.random.choice(
                all_instructors, size=instructors_per_method, replace=False
            )
            method = np.repeat(i, repeats=instructors_per_method)
            instructor_assignment.extend(np.column_stack((assigned, method)).tolist())
            all_instructors = np.setdiff1d(all_instructors, assigned)
        df2 = (
            pd.DataFrame(instructor_assignment, columns=["instructor", "method"])
            .sort_values(by="instructor")
            .reset_index(drop=True)
        )
        df = df1.merge(df2, on="instructor", how="left")
        instructor_effect = pd.Series(
            np.random.normal(loc=1, scale=0.1, size=num_instructor), name="instructor_effect"
        )
        method_effect = pd.Series(
            np.random.normal(loc=1, scale=0.1, size=num_method), name="method_effect"
        )
        method_effect.loc[0] = 1
        df["hs_gpa"] = np.random.normal(loc=3, scale=0.25, size=num_student)
        df = df.merge(instructor_effect, left_on="instructor", right_index=True, how="left")
        df = df.merge(method_effect, left_on="method", right_index=True, how="left")
        df["score"] = (15 + 19 * df["hs_gpa"]) * df.instructor_effect * df.method_effect + (
            np.random.normal(loc=0, scale=10, size=num_student)
        )
        df.loc[df["score"] >= 100, "score"] = 100
    finally:
        np.random.set_state(state)
    ours = datasets.students(seed=seed)
    pd.testing.assert_frame_equal(ours, df.reset_index(drop=True), check_dtype=False)


# ---------------------------------------------------------------------------
# call_center
# ---------------------------------------------------------------------------

CALL_COLUMNS = ["center_ID", "rep_ID", "age", "reason", "month", "call_CSAT", "M6Spend"]
REPS = [18, 21, 22, 15, 21, 21, 19, 19, 19, 18]


@pytest.fixture(scope="module")
def calls():
    return datasets.call_center()


@pytest.fixture(scope="module")
def calls_truth():
    return datasets.call_center_truth()


def test_call_center_shape_and_dtypes(calls):
    df = calls
    assert df.shape == (695_205, 7)
    assert list(df.columns) == CALL_COLUMNS
    for col in ["center_ID", "rep_ID", "age", "month"]:
        assert df[col].dtype == np.int64, col
    for col in ["call_CSAT", "M6Spend"]:
        assert df[col].dtype == np.float64, col
    assert df["reason"].dtype == object
    assert set(df["reason"].unique()) == {"payment", "property"}
    assert df.notna().all().all()


def test_call_center_structure(calls):
    df = calls
    reps_per_center = df.groupby("center_ID")["rep_ID"].nunique()
    assert reps_per_center.index.tolist() == list(range(1, 11))
    assert reps_per_center.tolist() == REPS
    # every rep in exactly one center
    assert (df.groupby("rep_ID")["center_ID"].nunique() == 1).all()
    # rep_ID 1..193, numbered consecutively by center
    rep_center = df.groupby("rep_ID")["center_ID"].first()
    assert rep_center.index.tolist() == list(range(1, 194))
    assert rep_center.tolist() == list(np.repeat(np.arange(1, 11), REPS))
    # rows sorted by center, then rep
    assert df["rep_ID"].is_monotonic_increasing and df["center_ID"].is_monotonic_increasing
    # center sizes
    sizes = df.groupby("center_ID").size().sort_values().to_numpy()
    assert sizes.sum() == 695_205
    assert sizes[0] == 54_203 and sizes[-1] == 79_250
    assert (sizes[1:-1] > 54_203).all() and (sizes[1:-1] < 79_250).all()
    # calls unequally spread over reps
    per_rep = df.groupby("rep_ID").size()
    assert per_rep.min() >= 1 and per_rep.std() / per_rep.mean() > 0.2
    assert np.corrcoef(df["center_ID"], df["rep_ID"])[0, 1] > 0.98


def test_call_center_covariates(calls):
    df = calls
    assert df["age"].between(18, 80).all()
    assert df["month"].between(1, 12).all() and df["month"].nunique() == 12
    assert abs((df["reason"] == "property").mean() - 0.4) < 0.005
    assert (df["M6Spend"] >= 0).all()
    assert abs((df["M6Spend"] == 0).mean() - 0.4) < 0.005
    spend = df.loc[df["M6Spend"] > 0]
    assert np.corrcoef(np.log(spend["M6Spend"]), spend["age"])[0, 1] < -0.1
    assert np.corrcoef(np.log(spend["M6Spend"]), spend["call_CSAT"])[0, 1] > 0.02


def test_call_center_truth(calls, calls_truth):
    df, t = calls, calls_truth
    assert len(t["center_effect"]) == 10 and len(t["rep_effect"]) == 193
    assert t["center_effect"].index.tolist() == list(range(1, 11))
    assert t["rep_effect"].index.tolist() == list(range(1, 194))
    assert (t["rep_center"].to_numpy() == np.repeat(np.arange(1, 11), REPS)).all()
    assert t["calls_per_center"].sum() == 695_205
    np.testing.assert_array_equal(
        t["calls_per_rep"].to_numpy(), df.groupby("rep_ID").size().to_numpy()
    )
    assert t["fe_params"].to_dict() == {"Intercept": 3.9, "reason[T.property]": 0.2, "age": 0.02}
    assert (t["sd_center"], t["sd_rep"], t["sd_resid"]) == (0.55, 1.2, 0.625)
    # the data follow the stated model: residuals are N(0, 0.625^2)
    eta = (
        3.9
        + 0.2 * (df["reason"] == "property")
        + 0.02 * df["age"]
        + t["center_effect"].to_numpy()[df["center_ID"] - 1]
        + t["rep_effect"].to_numpy()[df["rep_ID"] - 1]
    )
    e = df["call_CSAT"] - eta
    assert abs(e.mean()) < 0.005
    assert abs(e.std() - 0.625) < 0.005
    # rep effects were drawn with sd 1.2 (193 draws: loose bounds)
    assert 0.9 < t["rep_effect"].std() < 1.5


def test_call_center_determinism(calls, calls_truth):
    pd.testing.assert_frame_equal(datasets.call_center(seed=10), calls)
    other = datasets.call_center(seed=11)
    assert other.shape == calls.shape
    assert not np.array_equal(other["call_CSAT"], calls["call_CSAT"])
    assert other.groupby("center_ID").size().sort_values().iloc[[0, -1]].tolist() == [
        54_203,
        79_250,
    ]
    t2 = datasets.call_center_truth(seed=11)
    assert not np.array_equal(calls_truth["rep_effect"], t2["rep_effect"])


def test_ratings_have_the_movielens_shape():
    small = datasets.ratings(n_users=300, n_items=1000, n_ratings=20_000, seed=3)
    assert len(small) == 20_000
    per_user = small.groupby("user").size()
    assert per_user.min() >= 20 and per_user.max() > 5 * per_user.median()  # heavy tail
    assert not small.duplicated(["user", "item"]).any()
    assert set(small.rating.unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    again = datasets.ratings(n_users=300, n_items=1000, n_ratings=20_000, seed=3)
    pd.testing.assert_frame_equal(small, again)
