"""LightGBM fit time against the downsample factor, on the training part of 1M rows.

    python benchmarks/downsample_speedup.py [--rows 1000000] [--factors 1,2,5,10,20,50,100]
                                            [--minority 0.005] [--threads 2] [--repeats 2]

imbexp's own pieces, in-process and without tracking: the synthetic dataset, the holdout split,
``downsample_upweight`` (weight = factor) and the LightGBM of ``conf/model/lightgbm.yaml`` (200
trees). Each fit is timed ``--repeats`` times and the fastest kept (the machine is shared); the
valid PR-AUC and ECE show what the speed costs. Target: fit(f=10) / fit(f=1) <= 0.15.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--factors", default="1,2,5,10,20,50,100")
    parser.add_argument("--minority", type=float, default=0.005)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ["IMBEXP_THREADS"] = str(args.threads)

    from hydra import compose, initialize_config_dir

    import imbexp  # noqa: F401  (registers the config resolver)
    from imbexp import metrics, models
    from imbexp._compat import VERSION_BASE
    from imbexp._paths import config_dir
    from imbexp.datasets import synthetic
    from imbexp.splits import make_split
    from imbexp.strategies import DownsampleUpweight

    with initialize_config_dir(str(config_dir()), **VERSION_BASE):
        cfg = compose("config")
    dataset = synthetic(rows=args.rows, minority_fraction=args.minority)
    split = make_split(dataset.y, cfg.split, 0)
    train = split.train_all
    X_train, y_train = dataset.X.iloc[train], dataset.y[train]
    X_valid, y_valid = dataset.X.iloc[split.folds[0].valid], dataset.y[split.folds[0].valid]
    print(f"synthetic {args.rows:,} rows x {dataset.n_features} features, {100 * dataset.minority_fraction:.2f} % "
          f"positives; training part {len(train):,} rows; LightGBM {cfg.model.estimator.n_estimators} trees x "
          f"{args.threads} thread(s); best of {args.repeats}", flush=True)
    print(f"{'factor':>7} {'train rows':>11} {'fit s':>8} {'vs f=1':>7} {'valid PR-AUC':>13} {'valid ECE':>10}  load")
    base = None
    for factor in (float(f) for f in args.factors.split(",")):
        training = DownsampleUpweight(downsample_factor=factor).fit_resample(X_train, y_train, random_state=0)
        times = []
        for _ in range(args.repeats):
            model = models.build_model(cfg.model, 0)
            start = time.perf_counter()
            models.fit(model, training.X, training.y, training.sample_weight)
            times.append(time.perf_counter() - start)
        fit = min(times)
        base = base or fit
        p_valid = models.predict_positive(model, X_valid)
        print(f"{factor:7g} {training.n_rows:11,} {fit:8.2f} {fit / base:7.3f} "
              f"{metrics.probability_metrics(y_valid, p_valid)['pr_auc']:13.4f} "
              f"{metrics.expected_calibration_error(y_valid, p_valid):10.4f}  "
              f"{os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
