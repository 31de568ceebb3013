"""Simulated data for the inference reference tests (``inference_reference.R``).

Run from anywhere::

    python tests/reference/make_inference_data.py

Writes ``tests/reference/data/students_small.csv`` (next to this script) from its own
``np.random.RandomState(seed)`` (whose stream is stable across numpy versions), so the file
is reproducible bit for bit.  The same CSV is fed to R by ``inference_reference.R``; the
committed CSV is the reference, not this script's output on some future platform.

Data set (the data-generating values are in the docstring):

- ``students_small.csv``  students nested in instructors, instructors nested in teaching
  methods (a between-instructor factor): ``score ~ hs_gpa + method + (1 | instructor)``
"""

import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
from make_sim_data import write_csvs  # noqa: E402

OUTDIR = os.path.join(HERE, "data")

SEED_STUDENTS_SMALL = 20240601

#: method effects (points) relative to the reference method m0
METHOD_EFFECTS = {"m0": 0.0, "m1": 2.0, "m2": 4.0, "m3": -2.0, "m4": 3.0}


def make_students_small(seed=SEED_STUDENTS_SMALL):
    """Students in instructors in teaching methods (method varies between instructors only).

    50 instructors "I01".."I50"; instructors I01-I10 use method "m0", I11-I20 "m1", ...,
    I41-I50 "m4" (10 instructors per method); 40 students per instructor (2000 rows), student
    ids "I01-S01".. unique overall.  hs_gpa ~ N(3, sd 0.25) per student;

    score = 20 + 19 hs_gpa + b_method + u_instructor + e,

    b_method = 0, 2, 4, -2, 3 for m0..m4, u_instructor ~ N(0, 3^2), e ~ N(0, 10^2).
    Rows are sorted by instructor.
    """
    rs = np.random.RandomState(seed)
    n_instr, n_per, n_methods = 50, 40, 5
    methods = [f"m{k}" for k in range(n_methods)]
    instr_method = [methods[i // (n_instr // n_methods)] for i in range(n_instr)]
    u = rs.normal(0.0, 3.0, size=n_instr)
    rows = []
    for i in range(n_instr):
        gpa = rs.normal(3.0, 0.25, size=n_per)
        e = rs.normal(0.0, 10.0, size=n_per)
        m = instr_method[i]
        score = 20.0 + 19.0 * gpa + METHOD_EFFECTS[m] + u[i] + e
        for j in range(n_per):
            rows.append((f"I{i + 1:02d}", f"I{i + 1:02d}-S{j + 1:02d}", m,
                         gpa[j], score[j]))
    return pd.DataFrame(rows, columns=["instructor", "student", "method", "hs_gpa", "score"])


def main():
    write_csvs([("students_small", make_students_small)])


if __name__ == "__main__":
    main()
