#!/usr/bin/env python3
"""Reproduces data/diabetes.csv from the scikit-learn wheel on PyPI.

scikit-learn ships the diabetes data of Efron, Hastie, Johnstone and Tibshirani
(2004, "Least Angle Regression") as two gzip files inside its wheel:
sklearn/datasets/data/diabetes_data_raw.csv.gz (442 rows of 10 space-separated
features, unscaled) and diabetes_target.csv.gz (442 targets). This script
downloads the wheel with `pip download` (no install, no dependencies), checks
the SHA-256 of both decompressed files against the sums below, and writes
data/diabetes.csv with a header:

    age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,progression

The feature fields are copied as they are in the source file; the target
(written in the source as e.g. 1.510000000000000000e+02) becomes an integer.
The output's SHA-256 is checked too, so a run either reproduces the shipped
file byte for byte or stops with an error.

Usage:
    python3 scripts/fetch-diabetes.py                 # pip download, write data/diabetes.csv
    DIABETES_WHEEL=/path/to/scikit_learn-1.9.1-....whl python3 scripts/fetch-diabetes.py

Needs: Python 3 (standard library) and pip (unless DIABETES_WHEEL is set).
"""

import gzip
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "scikit-learn==1.9.1"
MEMBERS = {
    "sklearn/datasets/data/diabetes_data_raw.csv.gz": "86badf50b4f9436ddd1e497dc0ae1b93166f8120221ee7dca4634fe849f3be7c",
    "sklearn/datasets/data/diabetes_target.csv.gz": "244713a551f62a291a354212d8a048adec6cb1244b2bc44e66a0698f5006d26d",
}
OUTPUT_SHA256 = "36e3fd6f8158bdc41f916d8989653227e5a5dd506c508de3f33febb48213e641"
HEADER = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "progression"]
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "diabetes.csv"


def die(msg):
    sys.exit(f"fetch-diabetes: ERROR: {msg}")


def wheel_path(tmp):
    given = os.environ.get("DIABETES_WHEEL")
    if given:
        if not Path(given).is_file():
            die(f"DIABETES_WHEEL={given} is not a file")
        return Path(given)
    print(f"fetch-diabetes: pip download {PACKAGE} --no-deps")
    cmd = [sys.executable, "-m", "pip", "download", PACKAGE, "--no-deps",
           "--only-binary=:all:", "-d", str(tmp), "-q"]
    if subprocess.run(cmd).returncode != 0:
        die(f"pip download {PACKAGE} failed (or set DIABETES_WHEEL to a wheel you have)")
    wheels = sorted(Path(tmp).glob("scikit_learn-*.whl"))
    if not wheels:
        die(f"pip download left no wheel in {tmp}")
    return wheels[0]


def main():
    with tempfile.TemporaryDirectory(prefix="fetch-diabetes.") as tmp:
        whl = wheel_path(tmp)
        print(f"fetch-diabetes: wheel {whl.name}")
        texts = {}
        with zipfile.ZipFile(whl) as z:
            for member, want in MEMBERS.items():
                try:
                    raw = gzip.decompress(z.read(member))
                except KeyError:
                    die(f"{whl.name} has no {member}")
                got = hashlib.sha256(raw).hexdigest()
                if got != want:
                    die(f"{member}: SHA-256 {got}, expected {want}")
                texts[member] = raw.decode("ascii")
    data_lines = texts["sklearn/datasets/data/diabetes_data_raw.csv.gz"].split("\n")
    target_lines = texts["sklearn/datasets/data/diabetes_target.csv.gz"].split("\n")
    rows = [l.split() for l in data_lines if l.strip()]
    targets = [l.strip() for l in target_lines if l.strip()]
    if len(rows) != 442 or len(targets) != 442:
        die(f"expected 442 rows and 442 targets, found {len(rows)} and {len(targets)}")
    out = [",".join(HEADER)]
    for fields, t in zip(rows, targets):
        if len(fields) != 10:
            die(f"a row has {len(fields)} fields, expected 10: {fields}")
        y = float(t)
        if y != int(y):
            die(f"target {t} is not a whole number")
        out.append(",".join(fields + [str(int(y))]))
    text = "\n".join(out) + "\n"
    got = hashlib.sha256(text.encode()).hexdigest()
    if got != OUTPUT_SHA256:
        die(f"the written table's SHA-256 is {got}, expected {OUTPUT_SHA256}")
    OUT.write_text(text)
    print(f"fetch-diabetes: wrote {OUT.relative_to(ROOT)} (442 rows, sha256 {got})")


if __name__ == "__main__":
    main()
