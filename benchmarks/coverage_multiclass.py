"""How often each "95 %" interval of a multi-class run covers the value it estimates.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/coverage_multiclass.py
        [--replicates 400] [--minority 8,15,30,100] [--resamples 1000] [--population 1000000] [--out FILE]
    python benchmarks/coverage_multiclass.py --table FILE    # the tables again, from a finished run

One population, known: 5 standard normal features, P(y=k|x) = softmax(x W + b)_k for 3 classes,
the intercepts b set so the shares are 0.80 / 0.15 / 0.05. Two models are fitted once on 5,000
training rows: multinomial logistic regression without and with ``class_weight="balanced"``
(the second ranks as well but is miscalibrated, so the paired deltas are not all 0). Each
replicate draws a fresh test set (``minority`` / 0.05 rows, so ``minority`` expected rows of the
smallest class), predicts argmax, and computes every candidate interval of
:mod:`imbexp.multiclass.intervals` for each model and for their paired difference (balanced
minus plain), on the same resamples.

The value an interval is about is the same fitted model's metric on ``--population`` fresh rows,
each row counted as class k with weight P(y=k|x) (the label noise is taken out of the reference).
The tables give, per test size, estimate, metric and method: coverage with its Wilson 95 %
interval, the median width, and the estimator's mean bias against the population value.
Single-threaded by design (one core of a shared machine): about 7 minutes at the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

SHARES = (0.80, 0.15, 0.05)
FEATURES, TRAIN = 5, 5_000
MODELS = ("plain", "balanced")  # the delta is balanced - plain


class Softmax:
    """The known generator: x ~ N(0, I), y ~ softmax(x W + b)."""

    def __init__(self, shares: tuple[float, ...] = SHARES, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.W = rng.normal(0.0, 1.0, (FEATURES, len(shares)))
        self.b = np.log(np.asarray(shares))
        x = rng.normal(size=(200_000, FEATURES))
        for _ in range(50):  # move the intercepts until the mean probabilities are the shares
            self.b += np.log(np.asarray(shares) / self.p(x).mean(axis=0))

    def p(self, x: np.ndarray) -> np.ndarray:
        from scipy.special import softmax

        return softmax(x @ self.W + self.b, axis=1)

    def draw(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, FEATURES))
        p = self.p(x)
        y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
        return x, np.minimum(y, p.shape[1] - 1), p


def population_values(P: np.ndarray, p: np.ndarray, n_bins: int) -> dict[str, float]:
    """A model's metrics on the population, each row class k with weight p_k."""
    from sklearn import metrics as skm

    from imbexp.multiclass import intervals as MI

    n, K = P.shape
    predicted = P.argmax(axis=1)
    out = {"log_loss": float(-np.mean(np.sum(p * np.log(np.clip(P, 1e-15, 1)), axis=1))),
           "brier": float(np.mean(np.sum(P**2, axis=1) - 2 * np.sum(P * p, axis=1) + 1))}
    aucs, aps, f1s, recalls = [], [], [], []
    labels = np.r_[np.ones(n), np.zeros(n)]
    for k in range(K):
        score, weight = np.r_[P[:, k], P[:, k]], np.r_[p[:, k], 1 - p[:, k]]
        aucs.append(skm.roc_auc_score(labels, score, sample_weight=weight))
        aps.append(skm.average_precision_score(labels, score, sample_weight=weight))
        hit = predicted == k
        tp, fp, fn = p[hit, k].sum(), (1 - p[hit, k]).sum(), p[~hit, k].sum()
        f1s.append(2 * tp / (2 * tp + fp + fn))
        recalls.append(tp / p[:, k].sum())
    out.update(roc_auc=float(np.mean(aucs)), pr_auc=float(np.mean(aps)), f1_macro=float(np.mean(f1s)),
               balanced_accuracy=float(np.mean(recalls)))
    confidence, label = P.max(axis=1), P.argmax(axis=1)
    gap = np.bincount(MI._bins(confidence, n_bins), weights=confidence - p[np.arange(n), label], minlength=n_bins)
    out["ece"] = float(np.sum(np.abs(gap)) / n)
    return out


def setup(population_rows: int, n_bins: int) -> dict:
    from sklearn.linear_model import LogisticRegression

    generator = Softmax()
    x, y, _ = generator.draw(TRAIN, seed=1)
    models = {"plain": LogisticRegression(max_iter=1000).fit(x, y),
              "balanced": LogisticRegression(max_iter=1000, class_weight="balanced").fit(x, y)}
    xp, _, pp = generator.draw(population_rows, seed=10**9)
    population = {name: population_values(m.predict_proba(xp), pp, n_bins) for name, m in models.items()}
    return {"generator": generator, "models": models, "population": population}


def replicate(state: dict, minority: int, number: int, resamples: int, n_bins: int = 15) -> dict:
    from imbexp.multiclass import intervals as MI

    n = int(round(minority / min(SHARES)))
    seed = 1_000_003 * minority + number
    x, y, _ = state["generator"].draw(n, seed=seed)
    while np.bincount(y, minlength=len(SHARES)).min() == 0:  # a dataset has every class (Dataset's rule)
        seed += 7_919
        x, y, _ = state["generator"].draw(n, seed=seed)
    record: dict = {"minority_target": minority, "replicate": number, "test_rows": n,
                    "smallest_class": int(np.bincount(y, minlength=len(SHARES)).min()), "models": {}}
    runs, points = [], []
    for name in MODELS:
        P = state["models"][name].predict_proba(x)
        predicted = P.argmax(axis=1)
        runs.append((P, predicted))
        points.append(MI.point_values(y, P, predicted, n_bins))
    draws = MI.bootstrap_draws([MI.Resampled(y, P, pred, n_bins) for P, pred in runs], n, resamples, seed)
    for name, (P, predicted), point, d in zip(MODELS, runs, points, draws, strict=True):
        candidates = MI.candidate_intervals(y, P, predicted, n_bins, resamples, seed, draws=d, point=point)
        record["models"][name] = {"estimate": point, "intervals": candidates}
    (Pb, pb), (Pa, pa) = runs  # delta: balanced (A) - plain (B)
    deltas = MI.candidate_deltas(y, Pa, pa, Pb, pb, n_bins, resamples, seed, draws=[draws[1], draws[0]],
                                 points=(points[1], points[0]))
    record["deltas"] = {m: {k: [d.value, d.low, d.high, d.p] for k, d in methods.items()}
                        for m, methods in deltas.items()}
    return record


def _wilson(hits: list[bool]) -> tuple[float, float]:
    from scipy.stats import binomtest

    ci = binomtest(int(sum(hits)), len(hits)).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def _cells(records: list[dict], population: dict) -> tuple[dict, dict, dict]:
    from imbexp.multiclass import intervals as MI

    hits: dict = defaultdict(list)
    widths: dict = defaultdict(list)
    bias: dict = defaultdict(list)
    for r in records:
        size = r["minority_target"]
        for name, m in r["models"].items():
            for metric, methods in m["intervals"].items():
                truth = population[name][metric]
                bias[(size, name, metric)].append(m["estimate"][metric] - truth)
                used = [("used", MI.chosen(metric, methods))] if metric in MI.METHODS else []
                for method, (low, high) in [*methods.items(), *used]:
                    hits[(size, name, metric, method)].append(bool(low <= truth <= high))
                    widths[(size, name, metric, method)].append(high - low)
        for metric, methods in r["deltas"].items():
            truth = population["balanced"][metric] - population["plain"][metric]
            for method, (_value, low, high, _p) in methods.items():
                hits[(size, "delta", metric, method)].append(bool(low <= truth <= high))
                widths[(size, "delta", metric, method)].append(high - low)
            bias[(size, "delta", metric)].append(methods["percentile"][0] - truth)
    return hits, widths, bias


def tables(records: list[dict], population: dict) -> str:
    """Every candidate method, per test size."""
    from imbexp.multiclass import intervals as MI

    hits, widths, bias = _cells(records, population)
    lines = []
    for size in sorted({r["minority_target"] for r in records}):
        group = [r for r in records if r["minority_target"] == size]
        small = [r["smallest_class"] for r in group]
        lines += ["", f"### smallest class about {size} test rows ({len(group)} replicates of {group[0]['test_rows']:,}"
                  f" rows; smallest class {min(small)}-{max(small)}, median {int(np.median(small))})", "",
                  "| estimate | metric | method | coverage | Wilson 95 % | median width | mean bias |",
                  "|---|---|---|---|---|---|---|"]
        for (s, est, metric, method), ok in sorted(hits.items()):
            if s != size or method == "used":
                continue
            table = MI.DELTA_METHODS if est == "delta" else MI.METHODS
            mark = " **(used)**" if table.get(metric) == method else ""
            low, high = _wilson(ok)
            b = bias.get((s, est, metric))
            label = "Δ balanced − plain" if est == "delta" else est
            lines.append(f"| {label} | {metric} | {method}{mark} | {np.mean(ok):.3f} | {low:.3f}-{high:.3f} | "
                         f"{np.median(widths[(s, est, metric, method)]):.4f} | {np.mean(b):+.4f} |")
    return "\n".join(lines)


def summary(records: list[dict], population: dict) -> str:
    """The methods in use only: coverage (Wilson 95 %) per metric, model and size."""
    from imbexp.multiclass import intervals as MI

    hits, _, _ = _cells(records, population)
    sizes = sorted({r["minority_target"] for r in records})
    counts = {s: sum(r["minority_target"] == s for r in records) for s in sizes}

    def cell(key: tuple) -> str:
        low, high = _wilson(hits[key])
        return f"{np.mean(hits[key]):.3f} ({low:.2f}-{high:.2f})"

    head = " | ".join(f"{m} @ {s} (R={counts[s]})" for s in sizes for m in MODELS)
    lines = [f"| metric | method | {head} |", "|---|---|" + "---|" * (len(MODELS) * len(sizes))]
    for metric, method in MI.METHODS.items():
        lines.append(f"| {metric} | {MI.METHOD_WORDS[method]} | "
                     + " | ".join(cell((s, m, metric, "used")) for s in sizes for m in MODELS) + " |")
    for metric in MI.DROPPED:
        for method in ("percentile", "basic"):
            lines.append(f"| {metric} (no interval logged) | {MI.METHOD_WORDS[method]} | "
                         + " | ".join(cell((s, m, metric, method)) for s in sizes for m in MODELS) + " |")
    lines += ["", "| paired Δ (balanced − plain) | method | " + " | ".join(f"@ {s} (R={counts[s]})" for s in sizes)
              + " |", "|---|---|" + "---|" * len(sizes)]
    for metric, method in MI.DELTA_METHODS.items():
        lines.append(f"| {metric} | {MI.METHOD_WORDS[method]} | "
                     + " | ".join(cell((s, "delta", metric, method)) for s in sizes) + " |")
    for metric in MI.DELTA_DROPPED:
        for method in ("percentile", "basic"):
            lines.append(f"| {metric} (no delta logged) | {MI.METHOD_WORDS[method]} | "
                         + " | ".join(cell((s, "delta", metric, method)) for s in sizes) + " |")
    lines.append("")
    for s in sizes:
        used = [ok for (size, est, metric, method), v in hits.items() if size == s for ok in v
                if (est != "delta" and method == "used") or (est == "delta" and MI.DELTA_METHODS.get(metric) == method)]
        lines.append(f"pooled @ {s}: {np.mean(used):.3f} of {len(used)} intervals in use")
    return "\n".join(lines)


#: bins of a test set's observed smallest class count, for the choice of MIN_PER_CLASS
COUNT_BINS = (1, 10, 20, 30, 50, 100, 10**9)


def by_count(records: list[dict], population: dict) -> str:
    """Coverage of the intervals in use, by the test set's observed count of its smallest class
    (what too_few looks at), pooled over sizes: overall and the worst metric."""
    from imbexp.multiclass import intervals as MI

    hits: dict = defaultdict(list)
    for r in records:
        c = r["smallest_class"]
        band = next(i for i in range(len(COUNT_BINS) - 1) if COUNT_BINS[i] <= c < COUNT_BINS[i + 1])
        for name, m in r["models"].items():
            for metric in MI.METHODS:
                low, high = MI.chosen(metric, m["intervals"][metric])
                hits[(band, name, metric)].append(bool(low <= population[name][metric] <= high))
        for metric, method in MI.DELTA_METHODS.items():
            _, low, high, _ = r["deltas"][metric][method]
            truth = population["balanced"][metric] - population["plain"][metric]
            hits[(band, "delta", metric)].append(bool(low <= truth <= high))
    lines = ["| smallest class in test | replicates | pooled coverage (intervals and deltas in use) | worst cell "
             "(estimate, metric: coverage) |", "|---|---|---|---|"]
    for band in sorted({k[0] for k in hits}):
        cells = {k: v for k, v in hits.items() if k[0] == band}
        pooled = [ok for v in cells.values() for ok in v]
        worst = min(cells, key=lambda k: np.mean(cells[k]))
        upper = "+" if COUNT_BINS[band + 1] == 10**9 else f"-{COUNT_BINS[band + 1] - 1}"
        lines.append(f"| {COUNT_BINS[band]}{upper} | {len(cells[worst])} | {np.mean(pooled):.3f} | {worst[1]}, "
                     f"{worst[2]}: {np.mean(cells[worst]):.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=400)
    parser.add_argument("--minority", default="8,15,30,100", help="expected test rows of the smallest class, per size")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--out", default="benchmarks/results/coverage_multiclass.jsonl")
    parser.add_argument("--table", default=None, metavar="FILE", help="print the tables of a finished run")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    n_bins = 15
    started = time.monotonic()
    if args.table:
        lines = [json.loads(line) for line in Path(args.table).read_text().splitlines() if line.strip()]
        population, records = lines[0]["population"], lines[1:]
        print(summary(records, population))
        print("\n" + by_count(records, population))
        print(tables(records, population))
        return
    state = setup(args.population, n_bins)
    print(f"coverage_multiclass: shares {SHARES}, {args.replicates} replicates per size, smallest class "
          f"{args.minority}, {args.resamples} resamples, population {args.population:,} rows "
          f"({time.monotonic() - started:.0f} s to set up); load {os.getloadavg()[0]:.1f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    with out.open("w") as sink:
        sink.write(json.dumps({"population": state["population"]}) + "\n")
        for minority in (int(v) for v in args.minority.split(",")):
            for number in range(args.replicates):
                record = replicate(state, minority, number, args.resamples, n_bins)
                records.append(record)
                sink.write(json.dumps(record) + "\n")
            print(f"  smallest class ~{minority}: {args.replicates} replicates done at "
                  f"{time.monotonic() - started:.0f} s, load {os.getloadavg()[0]:.1f}", flush=True)
    print(summary(records, state["population"]))
    print("\n" + by_count(records, state["population"]))
    print(tables(records, state["population"]))
    print(f"\nwall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
