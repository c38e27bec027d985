"""How often each "95 %" interval covers the value it estimates.

    python benchmarks/coverage.py [--replicates 100] [--positives 30,100,1000] [--jobs 2]
                                  [--resamples 1000] [--population 1000000] [--trees 100] [--out FILE]
    python benchmarks/coverage.py --table FILE      # the tables again, from a finished run

One population: the ``known_prob`` generator (10 features, 1 % positives, P(y=1|x) known). Each
replicate draws fresh training (20,000), valid (10,000) and test rows (``positives`` / 1 %),
fits LightGBM (``conf/model/lightgbm.yaml``, ``--trees`` trees at learning rate 10 / trees)
with ``strategy=none`` and with ``downsample_upweight`` f = 10, tunes the F1 threshold on valid
and computes every candidate interval of :mod:`imbexp.intervals` on test, for each model and
for their paired difference.

The value an interval is about is the same fitted model's metric on the population: scored on
``--population`` fresh rows of the generator with P(y=1|x) itself as the label (each row counts
p as a positive and 1 - p as a negative), which removes the label noise from the reference.

A replicate's record goes to ``--out`` (JSON lines) as it finishes, so a long run can be read
while it runs and resumed (replicates already in the file are skipped). The tables give, per
test size, strategy, metric and method: coverage, its Monte-Carlo standard error, the median
width, and the estimator's mean bias against the population value.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

PREVALENCE = 0.01
TRAIN, VALID = 20_000, 10_000
STRATEGIES = ("none", "downsample_upweight")
SEEDS = 5  # the seeds of a repeated claim (repeats=5)
_state: dict = {}


def _init(population_rows: int, trees: int) -> None:
    os.environ["IMBEXP_THREADS"] = "1"
    from omegaconf import OmegaConf

    from imbexp._paths import config_dir
    from imbexp.datasets._generators import KnownProb

    generator = KnownProb(rows=100_000, minority_fraction=PREVALENCE, random_state=0)
    population = generator.fresh(population_rows, seed=10**9)
    _state.update(generator=generator, population=population,
                  model=OmegaConf.load(config_dir() / "model" / "lightgbm.yaml"))
    # fewer, larger steps than the default 200 x 0.05: the same kind of model, scored on the
    # population in half the time (scoring a million rows is most of a replicate's cost)
    _state["model"].estimator.n_estimators = trees
    _state["model"].estimator.learning_rate = 0.05 * 200 / trees


def population_values(score: np.ndarray, p: np.ndarray, threshold: float, n_bins: int) -> dict[str, float]:
    """A model's metrics on the population, each row a positive with weight p and a negative
    with weight 1 - p."""
    from sklearn import metrics as skm

    from imbexp import intervals as I

    both = np.concatenate([score, score])
    labels = np.r_[np.ones(score.size), np.zeros(score.size)]
    weights = np.concatenate([p, 1 - p])
    out = {
        "roc_auc": float(skm.roc_auc_score(labels, both, sample_weight=weights)),
        "pr_auc": float(skm.average_precision_score(labels, both, sample_weight=weights)),
        "prediction_bias": float(np.mean(score - p)),
        "brier": float(np.mean(score**2 - 2 * score * p + p)),
    }
    clipped = np.clip(score, 1e-15, 1 - 1e-15)
    out["log_loss"] = float(-np.mean(p * np.log(clipped) + (1 - p) * np.log1p(-clipped)))
    for name, t in (("f1", 0.5), ("f1_tuned", threshold)):
        treated = score >= t
        tp, fp, fn = np.sum(p[treated]), np.sum(1 - p[treated]), np.sum(p[~treated])
        out[name] = float(2 * tp / (2 * tp + fp + fn))
    bins = np.clip(np.ceil(score * n_bins).astype(int) - 1, 0, n_bins - 1)
    gap = np.bincount(bins, weights=score - p, minlength=n_bins)
    out["ece"] = float(np.sum(np.abs(gap)) / score.size)
    out["net_benefit"] = float(np.mean(I.net_benefit_rows(p, score, threshold)))
    design = np.column_stack([np.ones(score.size), I._logit_score(score)])
    out["calibration_slope"] = float(I._logistic_fit(p, design, np.zeros(score.size))[0][1])
    out["calibration_intercept"] = float(I._logistic_fit(p, design[:, :1], design[:, 1])[0][0])
    return out


def replicate(size: int, positives: int, number: int, resamples: int, n_bins: int = 15) -> dict:
    from imbexp import intervals as I
    from imbexp import metrics as M
    from imbexp import models
    from imbexp.strategies import DownsampleUpweight, NoRebalancing

    generator, population, model_cfg = _state["generator"], _state["population"], _state["model"]
    n_test = int(round(positives / PREVALENCE))
    seed = 1_000_003 * positives + number  # distinct draws for every size and replicate
    data = generator.fresh(TRAIN + VALID + n_test, seed=seed)
    X, y = data.X, data.y
    train, valid, test = np.arange(TRAIN), np.arange(TRAIN, TRAIN + VALID), np.arange(TRAIN + VALID, y.size)
    record: dict = {"size": size, "positives_target": positives, "replicate": number,
                    "test_rows": n_test, "test_positives": int(y[test].sum()), "strategies": {}}
    scored = {}
    for name, strategy in (("none", NoRebalancing()), ("downsample_upweight", DownsampleUpweight(10.0))):
        training = strategy.fit_resample(X.iloc[train], y[train], random_state=number)
        model = models.build_model(model_cfg, number)
        models.fit(model, training.X, training.y, training.sample_weight)

        def score(rows, model=model, strategy=strategy):
            return strategy.correct_probabilities(models.predict_positive(model, rows))

        p_valid, p_test = score(X.iloc[valid]), score(X.iloc[test])
        threshold = M.tune_threshold(y[valid], p_valid, "f1")
        p_population = score(population.X)
        scored[name] = (p_test, threshold)
        record["strategies"][name] = {
            "threshold": threshold,
            "estimate": {k: float(v) for k, v in {**M.evaluate(y[test], p_test, threshold, n_bins),
                                                   **I.calibration_metrics(y[test], p_test, threshold)}.items()},
            "population": population_values(p_population, population.p_true, threshold, n_bins),
        }
    (a, ta), (b, tb) = scored["downsample_upweight"], scored["none"]
    y_test = y[test]
    draws = I.bootstrap_draws([I._Resampled(y_test, a, ta, n_bins), I._Resampled(y_test, b, tb, n_bins)],
                              y_test.size, resamples, seed)
    for name, (s, t), d in (("downsample_upweight", scored["downsample_upweight"], draws[0]),
                            ("none", scored["none"], draws[1])):
        candidates = I.candidate_intervals(y_test, s, t, n_bins, resamples, seed, draws=d)
        record["strategies"][name]["intervals"] = candidates
    deltas = I.candidate_deltas(y_test, a, b, ta, tb, n_bins, resamples, seed, draws=draws)
    record["deltas"] = {m: {k: [d.value, d.low, d.high, d.p] for k, d in methods.items()}
                        for m, methods in deltas.items()}
    return record


def tables(records: list[dict]) -> str:
    from imbexp import intervals as I

    hits: dict = defaultdict(list)
    widths: dict = defaultdict(list)
    bias: dict = defaultdict(list)
    errors: dict = defaultdict(list)
    positives: dict = defaultdict(list)
    for r in records:
        key_size = r["positives_target"]
        positives[key_size].append(r["test_positives"])
        for strategy, s in r["strategies"].items():
            for metric, methods in s["intervals"].items():
                truth = s["population"][metric]
                bias[(key_size, strategy, metric)].append(s["estimate"][metric] - truth)
                for method, (low, high) in methods.items():
                    ok = bool(np.isfinite(low) and np.isfinite(high) and low <= truth <= high)
                    hits[(key_size, strategy, metric, method)].append(ok)
                    widths[(key_size, strategy, metric, method)].append(high - low)
                    if high > low:  # the error in units of the standard error the width implies
                        errors[(key_size, strategy, metric, method)].append(
                            (s["estimate"][metric] - truth) / ((high - low) / (2 * I.Z95)))
        pa, pb = r["strategies"]["downsample_upweight"]["population"], r["strategies"]["none"]["population"]
        for metric, methods in r["deltas"].items():
            truth = pa[metric] - pb[metric]
            for method, (_value, low, high, _p) in methods.items():
                ok = bool(np.isfinite(low) and np.isfinite(high) and low <= truth <= high)
                hits[(key_size, "delta", metric, method)].append(ok)
                widths[(key_size, "delta", metric, method)].append(high - low)

    # A claim about the technique: the t interval across 5 seeds (intervals.seed_interval) of the
    # per-seed estimates, against the technique's expected population value (the mean of the
    # population values over every replicate: over training draws as well as test rows).
    by_size: dict = defaultdict(list)
    for r in records:
        by_size[r["positives_target"]].append(r)
    for size, group in by_size.items():
        group = sorted(group, key=lambda r: r["replicate"])
        blocks = [group[i:i + SEEDS] for i in range(0, len(group) - SEEDS + 1, SEEDS)]
        for strategy in STRATEGIES:
            for metric in I.INTERVAL_METRICS:
                truth = np.mean([r["strategies"][strategy]["population"][metric] for r in group])
                for block in blocks:
                    _, _, low, high = I.seed_interval([r["strategies"][strategy]["estimate"][metric] for r in block])
                    hits[(size, strategy, metric, f"seed_t_{SEEDS}")].append(bool(low <= truth <= high))
                    widths[(size, strategy, metric, f"seed_t_{SEEDS}")].append(high - low)
        for metric in I.DELTA_METRICS:
            population = [r["strategies"]["downsample_upweight"]["population"][metric]
                          - r["strategies"]["none"]["population"][metric] for r in group]
            truth = float(np.mean(population))
            for block in blocks:
                _, _, low, high = I.seed_interval([r["deltas"][metric][I.DELTA_METHODS[metric]][0] for r in block])
                hits[(size, "delta", metric, f"seed_t_{SEEDS}")].append(bool(low <= truth <= high))
                widths[(size, "delta", metric, f"seed_t_{SEEDS}")].append(high - low)

    def chosen(strategy: str, metric: str, method: str) -> str:
        table = I.DELTA_METHODS if strategy == "delta" else I.METHODS
        return " **(used)**" if table.get(metric) == method or method.startswith("seed_t") else ""

    lines = []
    for size in sorted(positives):
        counts = positives[size]
        lines += ["", f"### about {size} test positives ({len(counts)} replicates; positives per test set "
                  f"{min(counts)}-{max(counts)}, median {int(np.median(counts))})", "",
                  "| estimate | metric | method | coverage | ± (MC s.e.) | median width | mean bias of the estimate "
                  "| sd of the standardised error |", "|---|---|---|---|---|---|---|---|"]
        for (s, strategy, metric, method), ok in sorted(hits.items(), key=lambda kv: (kv[0][1] == "delta", kv[0])):
            if s != size:
                continue
            coverage = float(np.mean(ok))
            se = float(np.sqrt(coverage * (1 - coverage) / len(ok))) if len(ok) else float("nan")
            label = "Δ f=10 − none" if strategy == "delta" else strategy
            b = bias.get((s, strategy, metric))
            bias_text = f"{np.mean(b):+.4f}" if b else ""
            z = errors.get((s, strategy, metric, method))
            z_text = f"{np.std(z, ddof=1):.2f}" if z and len(z) > 2 else ""
            lines.append(f"| {label} | {metric} | {method}{chosen(strategy, metric, method)} | {coverage:.3f} | "
                         f"{se:.3f} | {np.median(widths[(s, strategy, metric, method)]):.4f} | {bias_text} | "
                         f"{z_text} |")
    return "\n".join(lines)


def summary(records: list[dict]) -> str:
    """The used methods only, one row per metric: coverage per size and strategy (the README's table)."""
    from imbexp import intervals as I

    sizes = sorted({r["positives_target"] for r in records})
    cover: dict = defaultdict(list)
    for r in records:
        size = r["positives_target"]
        for strategy, s in r["strategies"].items():
            for metric, method in I.METHODS.items():
                low, high = s["intervals"][metric][method]
                cover[(metric, strategy, size)].append(low <= s["population"][metric] <= high)
        pa, pb = r["strategies"]["downsample_upweight"]["population"], r["strategies"]["none"]["population"]
        for metric, method in I.DELTA_METHODS.items():
            _, low, high, _ = r["deltas"][metric][method]
            cover[(metric, "delta", size)].append(low <= pa[metric] - pb[metric] <= high)
    counts = {size: len([r for r in records if r["positives_target"] == size]) for size in sizes}
    head = " | ".join(f"{name} @ {size} (R={counts[size]})" for size in sizes for name in ("none", "f=10"))
    lines = [f"| metric | method | {head} |", "|---|---|" + "---|" * (2 * len(sizes))]
    for metric, method in I.METHODS.items():
        cells = [f"{np.mean(cover[(metric, st, size)]):.2f}" for size in sizes for st in STRATEGIES]
        lines.append(f"| {metric} | {I.METHOD_WORDS[method]} | " + " | ".join(cells) + " |")
    lines += ["", "| paired Δ (f=10 − none) | method | " + " | ".join(f"@ {size} (R={counts[size]})" for size in sizes)
              + " |", "|---|---|" + "---|" * len(sizes)]
    for metric, method in I.DELTA_METHODS.items():
        cells = [f"{np.mean(cover[(metric, 'delta', size)]):.2f}" for size in sizes]
        lines.append(f"| {metric} | {I.METHOD_WORDS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--positives", default="30,100,1000", help="test positives of each size, comma-separated")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=100, help="LightGBM trees (learning rate 10 / trees)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default="benchmarks/results/coverage.jsonl")
    parser.add_argument("--table", default=None, metavar="FILE", help="print the tables of a finished run")
    parser.add_argument("--summary", action="store_true", help="with --table: only the methods in use, per metric")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.table:
        records = [json.loads(line) for line in Path(args.table).read_text().splitlines() if line.strip()]
        print(summary(records) if args.summary else tables(records))
        return
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done.add((r["positives_target"], r["replicate"]))
    sizes = [int(p) for p in args.positives.split(",")]
    work = [(i, p, n) for n in range(args.replicates) for i, p in enumerate(sizes) if (p, n) not in done]
    print(f"coverage: {len(work)} replicates to run ({len(done)} already in {out}), sizes {sizes} test positives, "
          f"{args.resamples} resamples, population {args.population:,} rows, LightGBM {args.trees} trees, "
          f"{args.jobs} process(es); "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    started = time.monotonic()
    with ProcessPoolExecutor(args.jobs, initializer=_init, initargs=(args.population, args.trees)) as pool, \
            out.open("a") as sink:
        futures = [pool.submit(replicate, i, p, n, args.resamples) for i, p, n in work]
        for finished, future in enumerate(as_completed(futures), 1):
            record = future.result()
            sink.write(json.dumps(record) + "\n")
            sink.flush()
            elapsed = time.monotonic() - started
            print(f"[{finished}/{len(work)}] {record['positives_target']} positives, replicate "
                  f"{record['replicate']}: {elapsed:.0f} s, ~{elapsed / finished * (len(work) - finished):.0f} s "
                  f"left, load {os.getloadavg()[0]:.1f}", flush=True)
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    print(tables(records))


if __name__ == "__main__":
    main()
