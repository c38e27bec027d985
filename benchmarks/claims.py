"""The claims of "downsample and upweight", as paired comparisons over repeated seeds.

    python benchmarks/claims.py [--seeds 5] [--factors 2,5,10,20,50,100] [--resamples 1000]
                                [--threads 1] [--out benchmarks/results/claims.json]

The data and model of ``sweep=claims``: ``known_prob`` with 200,000 rows (1 % positives, true
P(y=1|x) known), the holdout split (120,000 training, 40,000 valid and 40,000 test rows) and
the LightGBM of ``conf/model/lightgbm.yaml`` on ``--threads`` threads. For each seed (it
changes the split, the resample draw and the model's seed, as ``repeats`` does) the baseline
``strategy=none`` and ``downsample``, ``downsample_prior`` and ``downsample_upweight`` at each
factor are fitted with imbexp's own parts, in-process and without tracking.

Each configuration is compared with the baseline of the same seed on the same test rows
(:func:`imbexp.intervals.paired`); the sentence of a claim gives the mean of the per-seed
deltas and the 95 % t interval across seeds (:func:`imbexp.intervals.seed_interval`), which
holds both the test rows' noise and the spread between seeds. Fit times are the median of the
seeds with their range; the machine's load is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

METRICS = ("pr_auc", "roc_auc", "prediction_bias", "ece", "brier", "log_loss", "f1_tuned")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--factors", default="2,5,10,20,50,100")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/claims.json")
    parser.add_argument("--table", default=None, metavar="FILE", help="print the tables of a finished run")
    parser.add_argument("--figure", default="docs/claims.png", help="the figure drawn from the results")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.table:
        records = json.loads(Path(args.table).read_text())
        print(tables(records))
        if args.figure:
            figure(records, Path(args.figure))
        return
    os.environ["IMBEXP_THREADS"] = str(args.threads)

    from hydra import compose, initialize_config_dir

    import imbexp  # noqa: F401  (registers the config resolver)
    from imbexp import intervals as I
    from imbexp import metrics as M
    from imbexp import models
    from imbexp._compat import VERSION_BASE
    from imbexp._paths import config_dir
    from imbexp.run import build_strategy
    from imbexp.splits import make_split

    factors = [float(f) for f in args.factors.split(",")]
    configs = [("none", None)] + [(s, f) for s in ("downsample", "downsample_prior", "downsample_upweight")
                                  for f in factors]
    with initialize_config_dir(str(config_dir()), **VERSION_BASE):
        base = compose("config", overrides=["dataset=known_prob", "dataset.rows=200000",
                                            "model.estimator.n_jobs=1"])
        strategies = {}
        for name, factor in configs:
            overrides = [f"strategy={name}"] + ([] if factor is None else [f"strategy.downsample_factor={factor}"])
            strategies[(name, factor)] = build_strategy(compose("config", overrides=overrides).strategy)
    from imbexp.datasets import load_dataset

    dataset = load_dataset(base.dataset)
    print(f"claims: known_prob {dataset.n_rows:,} rows, {100 * dataset.minority_fraction:.2f} % positives; "
          f"{len(configs)} configurations x {args.seeds} seeds; LightGBM {base.model.estimator.n_estimators} trees "
          f"on {args.threads} thread(s); load {os.getloadavg()[0]:.1f}", flush=True)
    records = []
    started = time.monotonic()
    for seed in range(args.seeds):
        split = make_split(dataset.y, base.split, seed)
        train, valid, test = split.train_all, split.folds[0].valid, split.test
        y_valid, y_test = dataset.y[valid], dataset.y[test]
        scored = {}
        for (name, factor), strategy in strategies.items():
            selection = strategy.select_rows(dataset.y[train], random_state=seed)  # None: keeps every row
            rows = train if selection is None else train[selection.indices]
            weight = np.ones(rows.size) if selection is None else selection.sample_weight
            model = models.build_model(base.model, seed)
            load = os.getloadavg()[0]
            clock = time.perf_counter()
            models.fit(model, dataset.features(rows), dataset.y[rows], weight)
            fit_seconds = time.perf_counter() - clock
            p_valid = strategy.correct_probabilities(models.predict_positive(model, dataset.features(valid)))
            p_test = strategy.correct_probabilities(models.predict_positive(model, dataset.features(test)))
            threshold = M.tune_threshold(y_valid, p_valid, "f1")
            scored[(name, factor)] = (p_test, threshold)
            values = M.evaluate(y_test, p_test, threshold)
            record = {"seed": seed, "strategy": name, "factor": factor, "train_rows": int(rows.size),
                      "fit_seconds": fit_seconds, "load": load, "threshold": threshold,
                      "mean_score": float(np.mean(p_test)), "test_rate": float(np.mean(y_test)),
                      "true_rate": float(np.mean(dataset.p_true[test])),
                      **{m: float(values[m]) for m in METRICS}}
            if name != "none":
                base_scores, base_threshold = scored[("none", None)]
                deltas = I.paired(y_test, p_test, base_scores, threshold, base_threshold,
                                  n_resamples=args.resamples, seed=seed)
                record["deltas"] = {m: [d.value, d.low, d.high, d.p] for m, d in deltas.items()}
            records.append(record)
            print(f"seed {seed} {name:<20} f={factor or 1:>5g}: {rows.size:>7,} rows, fit {fit_seconds:5.2f} s, "
                  f"PR-AUC {values['pr_auc']:.4f}, bias {values['prediction_bias']:+.4f} "
                  f"({time.monotonic() - started:.0f} s, load {load:.1f})", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(records, indent=1))
    print(tables(records))
    if args.figure:
        figure(records, Path(args.figure))


def figure(records: list[dict], path: Path) -> None:
    """Three panels against the factor: ΔPR-AUC and the mean score / true rate with their 95 %
    t intervals across seeds, and the fit time (median and range of the seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imbexp import intervals as iv

    strategies = ("downsample", "downsample_prior", "downsample_upweight")
    colours = dict(zip(strategies, ("#d62728", "#2ca02c", "#1f77b4"), strict=True))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    none = [r for r in records if r["strategy"] == "none"]
    seeds = len(none)
    for offset, name in zip((-0.04, 0.0, 0.04), strategies, strict=True):
        rows = [r for r in records if r["strategy"] == name]
        factors = sorted({r["factor"] for r in rows})
        x = np.array(factors) * (1 + offset)
        panels = (
            (axes[0], [iv.seed_interval([r["deltas"]["pr_auc"][0] for r in rows if r["factor"] == f])
                       for f in factors]),
            (axes[1], [iv.seed_interval([r["mean_score"] / r["true_rate"] for r in rows if r["factor"] == f])
                       for f in factors]),
        )
        for ax, stats in panels:
            mean = np.array([s[0] for s in stats])
            low, high = np.array([s[2] for s in stats]), np.array([s[3] for s in stats])
            ax.errorbar(x, mean, yerr=[mean - low, high - mean], marker="o", capsize=3, color=colours[name],
                        label=name)
        fit = [[r["fit_seconds"] for r in rows if r["factor"] == f] for f in factors]
        median = np.array([np.median(v) for v in fit])
        axes[2].errorbar(x, median, yerr=[median - [min(v) for v in fit], [max(v) for v in fit] - median],
                         marker="o", capsize=3, color=colours[name], label=name)
    axes[0].axhline(0, color="grey", lw=1)
    axes[0].set(title=f"PR-AUC vs none, paired (mean of {seeds} seeds, 95 % t interval)", ylabel="ΔPR-AUC")
    axes[1].axhline(1, color="grey", lw=1)
    axes[1].set(title="mean predicted probability / true rate", ylabel="ratio (1 = calibrated on average)",
                yscale="log")
    base_fit = np.median([r["fit_seconds"] for r in none])
    axes[2].axhline(base_fit, color="grey", lw=1, ls="--", label=f"none: {base_fit:.2f} s")
    axes[2].set(title=f"fit time (median and range of {seeds} seeds)", ylabel="seconds", yscale="log")
    for ax in axes:
        ax.set(xscale="log", xlabel="factor f")
        ax.legend(fontsize=8)
    fig.suptitle("known_prob, 200,000 rows, 1 % positives, LightGBM: benchmarks/claims.py")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"figure: {path}")


def tables(records: list[dict]) -> str:
    from imbexp import intervals as I

    seeds = sorted({r["seed"] for r in records})
    keys = []
    for r in records:
        key = (r["strategy"], r["factor"])
        if key not in keys:
            keys.append(key)
    lines = [f"{len(seeds)} seeds; Δ = mean over seeds of the paired difference with none on the same test rows, "
             "[95 % t interval across seeds]; (k/n) = seeds whose own paired interval excludes 0", "",
             "| strategy | f | train rows | fit s, median [range] | ΔPR-AUC | ΔROC-AUC | Δbias "
             "| mean score / true rate (− true rate) | ΔECE | Δlog loss |", "|---|---|---|---|---|---|---|---|---|---|"]
    for key in keys:
        rows = [r for r in records if (r["strategy"], r["factor"]) == key]
        fit = np.array([r["fit_seconds"] for r in rows])
        ratio = np.median([r["mean_score"] / r["true_rate"] for r in rows])  # true rate: mean P(y=1|x)
        cells = [key[0], f"{key[1] or 1:g}", f"{int(np.median([r['train_rows'] for r in rows])):,}",
                 f"{np.median(fit):.2f} [{fit.min():.2f}, {fit.max():.2f}]"]
        for metric in ("pr_auc", "roc_auc", "prediction_bias"):
            cells.append(_delta_cell(rows, metric, I))
        against_truth = np.median([r["mean_score"] - r["true_rate"] for r in rows])
        cells.append(f"{ratio:.2f}x ({against_truth:+.4f})")
        for metric in ("ece", "log_loss"):
            cells.append(_delta_cell(rows, metric, I))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _delta_cell(rows: list[dict], metric: str, iv) -> str:
    if "deltas" not in rows[0]:
        values = [r[metric] for r in rows]
        mean, sd, _, _ = iv.seed_interval(values)
        return f"{mean:.4f} (sd {sd:.4f})"
    per_seed = [r["deltas"][metric] for r in rows]
    mean, _, low, high = iv.seed_interval([d[0] for d in per_seed])
    excluded = sum(1 for _, lo, hi, _ in per_seed if lo > 0 or hi < 0)
    return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}] ({excluded}/{len(per_seed)})"


if __name__ == "__main__":
    main()
