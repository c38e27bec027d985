"""One experiment, read top to bottom as the data flows:

config -> dataset -> stratified split -> strategy on the training part -> model.fit
-> scores on valid and test -> metrics (+ threshold tuned on valid) -> MLflow -> objective.

Each stage's wall time is logged as ``seconds_<stage>`` (config, data, resample, predict, metrics,
plots, model, tracking), and the fits' as ``fit_seconds``, so a sweep shows where its time goes.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from imbexp import calibration, components, intervals, models, names, plots, tracking
from imbexp import metrics as M
from imbexp.config import Objective, validate
from imbexp.datasets import Dataset, column_words, load_dataset, read_rows, reads_in_batches, source_of
from imbexp.datasets._base import BatchPredictable
from imbexp.errors import ConfigError, ImbexpError, first_line
from imbexp.splits import Split, make_split, validate_split
from imbexp.strategies import Strategy, TrainingSet
from imbexp.sweeping import _pruning
from imbexp.timing import Stopwatch

log = logging.getLogger("imbexp")


@dataclass
class Result:
    """Everything one run measured."""

    run_id: str
    objective: Objective
    metrics: dict[str, float]
    test_scores: np.ndarray = field(repr=False)
    #: what the run said about itself beyond numbers (the interval methods, or why there are none)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def value(self) -> float | list[float]:
        values = [self.metrics[key] for key in self.objective.keys]
        return values if self.objective.is_multi else values[0]


def build_strategy(spec: DictConfig) -> Strategy:
    """Build ``strategy`` from its ``_target_``; the strategy checks its own parameter values."""
    strategy = components.build(spec, "strategy")
    if not isinstance(strategy, Strategy):
        raise ConfigError(f"strategy._target_={spec.get('_target_')!r} is not a strategy; use a class "
                          "derived from imbexp.strategies.Strategy.")
    return strategy


def run_experiment(cfg: DictConfig) -> float | list[float]:
    """Run one experiment and return ``objective.metric`` on valid (the CV mean under cv)."""
    return experiment(cfg).value


def experiment(cfg: DictConfig) -> Result:
    """Run one experiment; see the module docstring for the steps."""
    clock = Stopwatch()
    with clock.stage("config"):
        objective = validate(cfg)
        seed = int(cfg.seed)
        strategy = build_strategy(cfg.strategy)
        model_name = str(cfg.model.get("name") or cfg.model.estimator._target_.rsplit(".", 1)[-1])
        unfitted = models.build_model(cfg.model, seed, strategy=strategy)  # fail on a bad model before loading data
        _check_weight_column(cfg, unfitted)
        validate_split(cfg.split, cfg.dataset)
        _check_cost_columns(cfg, objective)
        n_bins = int(cfg.get("metrics", {}).get("ece_bins", 15))
        source = source_of(cfg.dataset)  # its constructor refuses a bad dataset.* before any data is read
        in_batches = reads_in_batches(source, strategy)  # a capability of the source

    with clock.stage("data"):
        # Read in batches, the labels come first: the split and the strategy's kept training
        # rows are chosen from them, then only those rows, valid and test are read.
        dataset = load_dataset(cfg.dataset, labels_only=in_batches)
        if dataset.is_multiclass:
            from imbexp.multiclass import _run as multiclass

            multiclass.check(cfg, dataset, objective, strategy, unfitted)
            strategy.bind_classes(dataset.classes)
        else:
            from imbexp.multiclass import decisions

            multiclass = None
            _check_multiclass_objective(objective, dataset)
            decisions.check_threshold_config(cfg.get("threshold") or {}, None)  # multi-class keys on binary data
        _check_cost_columns(cfg, objective, dataset)
        split = make_split(dataset.y, cfg.split, seed, group=dataset.group, time=dataset.time)
        split, sample_words = _eval_sample(split, dataset.y, getattr(source, "eval_sample", None), seed)
        # Read in batches, valid and test are predicted batch by batch after the fits (a binary
        # run on a file whose columns allow it); otherwise they are read with the training rows.
        # Multi-class runs keep reading them: their scores are one row of K probabilities each.
        # A sweep's pruner does too: streamed, every fold is fitted before the first is scored,
        # and a pruned trial would have saved no fit.
        stream = source if (in_batches and multiclass is None and isinstance(source, BatchPredictable)
                            and source.streams_predictions() and not _pruning.reports_folds()) else None
        if in_batches:
            dataset = read_rows(source, dataset, _rows_used(split, strategy, dataset, seed,
                                                            evaluated=stream is None))

    run_name = run_name_of(strategy, model_name)
    tags = {"strategy": strategy.name, "model": model_name, "dataset": dataset.name,
            "degree": dataset.degree, "split": split.kind, tracking.LABEL_TAG: strategy.report_label()}
    factor = strategy.factor()
    if factor is not None:
        tags[tracking.FACTOR_NAME_TAG] = str(strategy.factor_name)
    tags.update(_column_tags(cfg, dataset, split))
    # the dataset's facts are tags, not metrics: MLflow's charts then open on what the runs vary
    # the share as a plain decimal (0.00005, not 5e-05), every digit kept: a tag is read as its text
    tags.update({key: np.format_float_positional(float(value), trim="-") if key == "dataset_minority_fraction"
                 else str(int(value))
                 for key, value in dataset.summary().items() if key in tracking.DATASET_FACTS})
    if multiclass is not None:
        tags.update(multiclass.tags(dataset))
    if sample_words is not None:
        tags[EVAL_SAMPLE_TAG] = sample_words
    with tracking.start_run(cfg, run_name, tags) as run:
        tracking.log_params(tracking.run_params(cfg))
        import mlflow

        mlflow.log_text(tracking.config_yaml(cfg), "config.yaml")
        if dataset.column_renames:  # the file's column names a model could not take, and their new names
            mlflow.log_dict(dataset.column_renames, "dataset_column_renames.json")

        values: dict[str, float] = {}
        predicted = None  # a multi-class run's test decisions
        if multiclass is not None:
            scored, test_scores, predicted, model, run_tags = multiclass.fit_and_score(
                cfg, dataset, split, strategy, seed, n_bins, clock, _fit_one)
        else:
            scored, test_scores, model, run_tags = _fit_and_score(cfg, dataset, split, strategy, seed, n_bins, clock,
                                                                  stream)
        values.update(scored)
        if factor is not None:
            values[tracking.FACTOR_METRIC] = factor
        mlflow.log_metrics(values)
        if run_tags:
            mlflow.set_tags(run_tags)

        with tracking.artifact_dir() as out:
            (out / "predictions").mkdir()
            if multiclass is not None:
                multiclass.predictions_frame(dataset, split.test, test_scores, predicted).to_parquet(
                    out / "predictions" / "test.parquet", index=False)
            else:
                _predictions_frame(dataset, split.test, test_scores).to_parquet(
                    out / "predictions" / "test.parquet", index=False)
            if tracking.draws_plots(cfg):  # sweeps leave them to the report, from the predictions
                with clock.stage("plots"):
                    (out / "plots").mkdir()
                    if multiclass is not None:
                        multiclass.draw_plots(dataset, split.test, test_scores, predicted, out / "plots", n_bins)
                    else:
                        _draw_plots(dataset, split.test, test_scores, values, out / "plots", n_bins)
        if tracking.logs_model(cfg):
            with clock.stage("model"):
                try:
                    tracking.log_model(model)
                except Exception as exc:
                    reason = f"{type(exc).__name__}: {first_line(exc)[:300]}"
                    if cfg.tracking.get("log_model") is True:  # asked for: the run fails, its metrics kept
                        raise ImbexpError(f"tracking.log_model=true: the model could not be logged ({reason}); "
                                          "use tracking.log_model=auto or false to run without it.") from exc
                    # by default, a model MLflow cannot save costs the run nothing else
                    log.warning("the model was not logged (%s); the metrics and predictions were. "
                                "Set tracking.log_model=false to skip it.", reason)
        clock.remainder("tracking")
        mlflow.log_metrics({k: v for k, v in clock.metrics().items() if k not in values})  # fit_seconds is logged
        result = Result(run.info.run_id, objective, values, test_scores, run_tags)
        for key in objective.keys:
            if not np.isfinite(values[key]):
                raise ImbexpError(f"objective {key} is {values[key]} for this run; it cannot be optimised.")
    if os.environ.get(names.QUIET_TRIALS_ENV) != "1":  # a quiet sweep prints one line per trial itself
        if multiclass is not None:
            lines = multiclass.summary_lines(dataset, strategy, model_name, result)
            lines += [f"  {sample_words}"] if sample_words is not None else []
            lines += [f"  objective: {_objective_words(result)}",
                      f"  MLflow run {result.run_id} · {tracking.ui_hint(str(cfg.tracking.uri))}"]
            print("\n".join(lines), flush=True)
        else:
            _print_summary(cfg, dataset, strategy, model_name, result, sample_words)
    return result


def run_name_of(strategy: Strategy, model_name: str) -> str:
    """What tells a run apart first, where the MLflow UI cuts names short: ``f=20 w=10 ·
    downsample_upweight · lightgbm`` (the strategy's factors, then its name and the model)."""
    label = strategy.label()
    detail = label[len(strategy.name):].strip() if label.startswith(strategy.name) else ""
    return f"{detail} · {strategy.name} · {model_name}" if detail else f"{label} · {model_name}"


def _predictions_frame(dataset: Dataset, rows: np.ndarray, test_scores: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"y_true": dataset.y[rows].astype(np.int8), "y_score": test_scores})
    if dataset.p_true is not None:
        frame["p_true"] = dataset.p_true[rows]
    return frame


def _draw_plots(dataset: Dataset, rows: np.ndarray, test_scores: np.ndarray, values: dict[str, float], out,
                n_bins: int) -> None:
    y_test = dataset.y[rows]
    p_true = dataset.p_true[rows] if dataset.p_true is not None else None
    plots.reliability(y_test, test_scores, out / "reliability.png", n_bins, values["test_ece"], p_true)
    plots.pr_curve(y_test, test_scores, out / "pr_curve.png", values.get("test_pr_auc"))
    plots.roc_curve(y_test, test_scores, out / "roc_curve.png", values.get("test_roc_auc"))
    plots.confusion_matrix(y_test, test_scores, values["threshold_tuned"], out / "confusion_matrix.png")


#: the tag of a run scored on a sample of valid and test (what was sampled, how many rows)
EVAL_SAMPLE_TAG = "imbexp.eval_sample"


def _eval_sample(split: Split, y: np.ndarray, sample: float | int | None, seed: int) -> tuple[Split, str | None]:
    """``split`` with each fold's valid part and the test part replaced by a stratified sample
    (``dataset.eval_sample``: a fraction of each part, or a number of rows of each), seeded by
    the run's seed, and the sentence that says so; ``split`` itself when ``sample`` is null.

    Every class keeps its share within rounding (the split's stratified draw allocates the
    rows); a class the sample would leave without a row stops the run, since its metrics would
    be undefined."""
    if sample is None:
        return split, None
    from imbexp.splits import stratified_split_off

    def sampled(rows: np.ndarray, part: str) -> np.ndarray:
        n = int(sample) if sample > 1 else round(float(sample) * rows.size)
        if n >= rows.size:
            return rows
        present = np.unique(y[rows])
        if n < present.size:
            raise ConfigError(f"dataset.eval_sample={sample!r} keeps {n} of the {rows.size:,} {part} rows, fewer "
                              f"than its {present.size} classes; use a larger fraction or number of rows.")
        try:  # the split's own stratified draw, without scikit-learn's Python lists of rows
            kept = np.sort(stratified_split_off(rows, y[rows], rows.size - n, seed)[0])
        except ValueError as exc:  # a class of one row, or too few rows left out to stratify
            raise ConfigError(f"dataset.eval_sample={sample!r} cannot be drawn from the {rows.size:,} {part} rows "
                              f"({first_line(str(exc))}); use a larger fraction or number of rows, or "
                              "dataset.eval_sample=null.") from None
        lost = np.setdiff1d(present, y[kept])
        if lost.size:
            raise ConfigError(f"dataset.eval_sample={sample!r} keeps no row of class {lost[0]} in the {part} part "
                              f"(it has {int(np.sum(y[rows] == lost[0]))} of the part's {rows.size:,} rows); use a "
                              "larger fraction or number of rows.")
        return kept

    folds = [dataclasses.replace(fold, valid=sampled(fold.valid, "valid")) for fold in split.folds]
    test = sampled(split.test, "test")
    valid_n, valid_all = sum(f.valid.size for f in folds), sum(f.valid.size for f in split.folds)
    words = (f"evaluated on a stratified sample (dataset.eval_sample={sample}): {valid_n:,} of {valid_all:,} valid "
             f"rows{' (all folds)' if split.kind == 'cv' else ''} and {test.size:,} of {split.test.size:,} test "
             "rows scored")
    log.info("%s", words)
    return dataclasses.replace(split, folds=folds, test=test), words


def _rows_used(split: Split, strategy: Strategy, dataset: Dataset, seed: int, evaluated: bool = True) -> np.ndarray:
    """Positions of every row a run reads into memory: the training rows the strategy keeps
    (chosen from the labels and weights exactly as :func:`_fit_one`) and, with ``evaluated``,
    test and each fold's valid part (else those are predicted batch by batch)."""
    y = dataset.y
    fits = [fold.train for fold in split.folds] + ([split.train_all] if split.kind == "cv" else [])
    parts = [split.test, *(fold.valid for fold in split.folds)] if evaluated else []
    parts += [rows[strategy.select_rows(y[rows], _at(dataset.weight, rows), random_state=seed).indices]
              for rows in fits]
    return np.unique(np.concatenate(parts))


def _fit_and_score(cfg: DictConfig, dataset: Dataset, split, strategy: Strategy, seed: int, n_bins: int,
                   clock: Stopwatch, stream: BatchPredictable | None = None,
                   ) -> tuple[dict[str, float], np.ndarray, Any, dict[str, str]]:
    """Fit on each fold's rebalanced training rows; score valid per fold and test once.
    Returns the metrics, the test scores, the model that made them and the run's interval tags.

    ``stream``: the source that predicts valid and test batch by batch (``dataset`` then holds
    the kept training rows only): every model is fitted first, then one pass over the file
    scores each fold's valid rows with that fold's model and test with the test model (the
    ``predict`` stage then includes reading the file). Without it, each fold is fitted and
    scored in turn, so a pruner can stop the trial before the next fit."""
    y = dataset.y
    # an anomaly detector's scores are mapped to probabilities on valid even without calibration=
    method = models.score_calibration(cfg.model, str(cfg.get("calibration", "none")))
    rule = _threshold_rule(cfg)
    fold_metrics, thresholds = [], []
    pooled_raw, pooled_scores, pooled_y = [], [], []  # valid scores of every fold
    streamed = _fit_and_stream(cfg, dataset, split, strategy, seed, clock, stream) if stream is not None else None
    for number, fold in enumerate(split.folds):
        y_valid = y[fold.valid]
        if streamed is None:
            model, training, _ = _fit_one(cfg, dataset, fold.train, strategy, seed, clock)
            with clock.stage("predict"):
                raw = strategy.correct_probabilities(models.predict_positive(model, dataset.features(fold.valid)))
        else:
            (model, training), raw = streamed.fits[number], streamed.valid[number]
        with clock.stage("metrics"):
            p_valid = raw
            if method != "none":
                calibration.check_enough_minority(method, y_valid)
                p_valid = calibration.cross_fitted(method, raw, y_valid, seed)
            threshold = M.tune_threshold(y_valid, p_valid, **rule, fn_cost=_at(dataset.cost, fold.valid))
            thresholds.append(threshold)
            fold_metrics.append({**M.evaluate(y_valid, p_valid, threshold, n_bins),
                                 **intervals.calibration_metrics(y_valid, p_valid, threshold),
                                 **_money(dataset, fold.valid, p_valid, threshold, rule)})
        pooled_raw.append(raw)
        pooled_scores.append(p_valid)
        pooled_y.append(y_valid)
        # a sweep's pruner may stop the trial here (raises optuna.TrialPruned); a no-op otherwise
        _pruning.report_fold(fold_metrics[-1], fold_metrics, clock.metrics())
        if split.kind == "cv":
            log.info("fold %d/%d: valid %s", number + 1, len(split.folds),
                     ", ".join(f"{k}={fold_metrics[-1][k]:.4f}" for k in ("pr_auc", "roc_auc", "ece")))

    values: dict[str, Any] = fold_means(fold_metrics, split.kind == "cv")
    # One fold: its threshold. Several: the median, robust to a fold with few positives.
    threshold = float(np.median(thresholds))
    valid_y, valid_scores = np.concatenate(pooled_y), np.concatenate(pooled_scores)

    if split.kind == "cv":  # the test model is fitted on the whole training part
        if streamed is None:
            model, training, _ = _fit_one(cfg, dataset, split.train_all, strategy, seed, clock)
        else:
            model, training = streamed.fits[-1]
        values["cv_folds"] = len(split.folds)
    y_test = y[split.test]
    if streamed is None:
        with clock.stage("predict"):
            test_scores = strategy.correct_probabilities(models.predict_positive(model, dataset.features(split.test)))
    else:
        test_scores = streamed.test
    with clock.stage("metrics"):
        uncalibrated: dict[str, float] = {}
        if method != "none":  # fitted on valid only (under cv: every fold's held-out scores)
            calibrator = calibration.ScoreCalibrator(method).fit(np.concatenate(pooled_raw), valid_y)
            # what the calibration changed, for the console and the run: ECE and bias before it
            uncalibrated = {"test_uncalibrated_ece": M.expected_calibration_error(y_test, test_scores, n_bins),
                            "test_uncalibrated_prediction_bias": float(np.mean(test_scores) - np.mean(y_test))}
            test_scores = calibrator.transform(test_scores)
        test_values = {**M.evaluate(y_test, test_scores, threshold, n_bins),
                       **intervals.calibration_metrics(y_test, test_scores, threshold),
                       **_money(dataset, split.test, test_scores, threshold, rule)}
        values.update({f"test_{name}": value for name, value in test_values.items()})
        values.update(uncalibrated)
        values.update({
            "threshold_tuned": threshold,
            "train_rows": training.n_rows,
            **_training_shares(training),
            "train_weight_total": float(np.sum(training.sample_weight)),
            "fit_seconds": clock.seconds["fit"],  # every fit of the run (the stopwatch's fit stage)
        })
        if dataset.p_true is not None:
            values["test_mean_abs_error_vs_p_true"] = float(np.mean(np.abs(test_scores - dataset.p_true[split.test])))

        run_tags: dict[str, str] = models.detector_tags(model, method)  # empty unless an anomaly detector
        resamples = int(cfg.get("metrics", {}).get("bootstrap", 0))
        if resamples:
            # below a minimum of test positives no interval's coverage is near 95 %: say so, log none
            found = add_intervals(values, run_tags, intervals.too_few(y_test), intervals.method_summary, lambda: (
                intervals.intervals(y_test, test_scores, threshold, n_bins, n_resamples=resamples, seed=seed)))
            if found:
                note = intervals.rough(y_test)
                if note is not None:
                    run_tags[names.INTERVALS_NOTE_TAG] = note

        prevalence = (cfg.get("deployment") or {}).get("prevalence")
        if prevalence is not None:
            valid_rows = np.concatenate([fold.valid for fold in split.folds])
            values.update(_deployment_metrics(float(prevalence), float(np.mean(y[split.train_all])), valid_y,
                                              valid_scores, y_test, test_scores, rule, n_bins,
                                              _at(dataset.cost, valid_rows)))
    return values, test_scores, model, run_tags


def add_intervals(values: dict[str, float], run_tags: dict[str, str], reason: str | None,
                  summary: Any, compute: Any) -> bool:
    """The test intervals into ``values`` (``test_<m>_ci_low`` / ``_high``) and their methods into
    ``run_tags``; with a ``reason`` (too few test rows) only that, as a tag. Returns whether any
    were computed."""
    if reason is not None:
        run_tags[names.NO_INTERVALS_TAG] = reason
        return False
    for name, (low, high) in compute().items():
        values[f"test_{name}_ci_low"], values[f"test_{name}_ci_high"] = low, high
    run_tags[names.INTERVAL_METHODS_TAG] = summary()
    return True


def fold_means(fold_metrics: list[dict[str, float]], cv: bool) -> dict[str, float]:
    """``valid_<m>``: each metric's mean over the folds; under cv also ``valid_<m>_std``."""
    values: dict[str, float] = {}
    for name in fold_metrics[0]:
        column = np.array([m[name] for m in fold_metrics], dtype=np.float64)
        values[f"valid_{name}"] = float(np.mean(column))
        if cv:
            values[f"valid_{name}_std"] = float(np.std(column, ddof=1))
    return values


def _training_shares(training: TrainingSet) -> dict[str, float]:
    """The positives' share of the rows the model was fitted on, and of their weight.

    The positive class's share, not the minority's: a downsampling factor past balance makes
    the positives the majority, and min(share, 1 - share) then silently reported the negatives'.
    The weighted share is what the model's loss sees (upweighting restores the data's prior).
    """
    positive = np.asarray(training.y) == 1
    weight = np.asarray(training.sample_weight, dtype=np.float64)
    return {"train_positive_fraction": float(np.mean(positive)),
            "train_weighted_positive_fraction": float(weight[positive].sum() / weight.sum())}


def _threshold_rule(cfg: DictConfig) -> dict[str, Any]:
    threshold = cfg.get("threshold") or {}
    return {"rule": str(threshold.get("rule", "f1")), "beta": float(threshold.get("beta", 1.0)),
            "min_recall": float(threshold.get("min_recall", 0.5)),
            "cost_fp": float(threshold.get("cost_fp", 1.0)), "cost_fn": float(threshold.get("cost_fn", 1.0))}


def _deployment_metrics(prevalence: float, data_prevalence: float, y_valid, valid_scores, y_test, test_scores,
                        rule: dict[str, Any], n_bins: int, valid_cost: np.ndarray | None = None) -> dict[str, float]:
    """Metrics as they would be at the production prevalence: scores moved to that prior, rows
    weighted so positives have that share, threshold re-chosen on valid the same way (with the
    rows' own costs, where the dataset has them)."""
    valid_shifted = M.shift_prior(valid_scores, data_prevalence, prevalence)
    test_shifted = M.shift_prior(test_scores, data_prevalence, prevalence)
    threshold = M.tune_threshold(y_valid, valid_shifted, **rule, fn_cost=valid_cost,
                                 sample_weight=M.prevalence_weights(y_valid, prevalence))
    weights = M.prevalence_weights(y_test, prevalence)
    deployed = M.evaluate(y_test, test_shifted, threshold, n_bins, sample_weight=weights)
    # net benefit is a mean over rows, so reweighting them is enough; the calibration intercept
    # and slope would need a weighted fit, which intervals.calibration_metrics does not take
    deployed["net_benefit"] = float(np.average(intervals.net_benefit_rows(y_test, test_shifted, threshold),
                                               weights=weights))
    values = {f"test_deploy_{name}": value for name, value in deployed.items()}
    values.update({"deploy_prevalence": prevalence, "threshold_deploy": threshold})
    return values


@dataclass
class _Streamed:
    """The fits of a run whose valid and test were predicted batch by batch, and their scores."""

    fits: list[tuple[Any, TrainingSet]]  # per fold, then (under cv) the test model's
    valid: list[np.ndarray]  # per fold, prior-corrected like the in-memory path's
    test: np.ndarray


def _fit_and_stream(cfg: DictConfig, dataset: Dataset, split: Split, strategy: Strategy, seed: int,
                    clock: Stopwatch, stream: BatchPredictable) -> _Streamed:
    """Every fold's model (and under cv the test model, on the whole training part), then one
    pass over the source predicting each fold's valid rows and the test rows."""
    fits, corrections = [], []
    for rows in [fold.train for fold in split.folds] + ([split.train_all] if split.kind == "cv" else []):
        model, training, _ = _fit_one(cfg, dataset, rows, strategy, seed, clock)
        # the features are the model's now: held for every fold at once they would add up to
        # several copies of the training part (the labels and weights are what is logged)
        fits.append((model, dataclasses.replace(training, X=training.X.iloc[:0])))
        # a prior correction is the ratio of the fit just made (Strategy.correct_probabilities): kept per fit
        corrections.append(copy.copy(strategy).correct_probabilities)
    test_fit = len(fits) - 1  # holdout: the fold's model scores test too

    def predictor(model: Any):
        return lambda X: models.predict_positive(model, X)

    parts = [(fold.valid, predictor(fits[i][0])) for i, fold in enumerate(split.folds)]
    parts.append((split.test, predictor(fits[test_fit][0])))
    with clock.stage("predict"):
        raw = stream.predict_rows(dataset, parts)
    valid = [corrections[i](scores) for i, scores in enumerate(raw[:-1])]
    return _Streamed(fits, valid, corrections[test_fit](raw[-1]))


def _fit_one(cfg: DictConfig, dataset: Dataset, rows: np.ndarray, strategy: Strategy, seed: int,
             clock: Stopwatch):
    """Rebalance ``rows`` with the strategy and fit a fresh model on them."""
    y = dataset.y
    weight = _at(dataset.weight, rows)  # the dataset's own row weights; the strategy multiplies them
    with clock.stage("resample"):
        selection = strategy.select_rows(y[rows], weight, random_state=seed)
        if selection is not None:  # index the kept rows once, never copy the whole training part
            kept = rows[selection.indices]
            training = TrainingSet(dataset.features(kept), y[kept], selection.sample_weight, selection.indices)
        else:
            training = strategy.fit_resample(dataset.features(rows), y[rows], weight, random_state=seed)
    model = models.build_model(cfg.model, seed)
    before = clock.seconds.get("fit", 0.0)
    with clock.stage("fit"):
        models.fit(model, training.X, training.y, training.sample_weight)
    return model, training, clock.seconds["fit"] - before


def _print_summary(cfg: DictConfig, dataset: Dataset, strategy: Strategy, model_name: str, result: Result,
                   sample_words: str | None = None) -> None:
    m = result.metrics
    lines = [
        f"imbexp · {strategy.label()} · {model_name} · {dataset.name} "
        f"({dataset.n_rows:,} rows, {100 * dataset.minority_fraction:.2f}% minority, {dataset.degree})",
        f"  {'metric':<22}{'valid':>10}{'test':>10}   95 % interval (test)",
    ]
    for name in ("pr_auc", "roc_auc", "f1", "f1_tuned", "precision_tuned", "recall_tuned", "kappa",
                 "mcc", "log_loss", "brier", "ece", "prediction_bias", "calibration_intercept",
                 "calibration_slope", "net_benefit"):
        line = f"  {name:<22}{m[f'valid_{name}']:>10.4f}{m[f'test_{name}']:>10.4f}"
        low, high = m.get(f"test_{name}_ci_low"), m.get(f"test_{name}_ci_high")
        if low is not None and high is not None:
            line += f"   [{low:.4f}, {high:.4f}]"
        lines.append(line)
    if names.NO_INTERVALS_TAG in result.tags:  # the reason is a sentence of its own ("no 95 % intervals: ...")
        lines.append(f"  {result.tags[names.NO_INTERVALS_TAG]}")
    elif names.INTERVAL_METHODS_TAG in result.tags:
        lines.append(f"  intervals: {result.tags[names.INTERVAL_METHODS_TAG]}")
        if names.INTERVALS_NOTE_TAG in result.tags:
            lines.append(f"  {result.tags[names.INTERVALS_NOTE_TAG]}")
    else:
        lines.append("  intervals: off (metrics.bootstrap=0)")
    lines.extend(models.detector_summary(result.tags))
    if sample_words is not None:
        lines.append(f"  {sample_words}")
    lines.append(f"  threshold tuned on valid: {m['threshold_tuned']:.4f}; trained on "
                 f"{int(m['train_rows']):,} rows ({100 * m['train_positive_fraction']:.2f}% positive, "
                 f"{100 * m['train_weighted_positive_fraction']:.2f}% of the weight) in {m['fit_seconds']:.2f} s")
    if "test_uncalibrated_ece" in m:
        lines.append(f"  calibration={cfg.calibration} (fitted on valid): test ECE {m['test_ece']:.4f} "
                     f"({m['test_uncalibrated_ece']:.4f} before), prediction bias {m['test_prediction_bias']:+.4f} "
                     f"({m['test_uncalibrated_prediction_bias']:+.4f} before)")
    if "deploy_prevalence" in m:
        lines.append(f"  deployed at prevalence {100 * m['deploy_prevalence']:.3g}% (scores moved to it, threshold "
                     f"{m['threshold_deploy']:.4f} re-chosen on valid): test pr_auc {m['test_deploy_pr_auc']:.4f}, "
                     f"precision {m['test_deploy_precision_tuned']:.4f}, recall {m['test_deploy_recall_tuned']:.4f}, "
                     f"ece {m['test_deploy_ece']:.4f}, bias {m['test_deploy_prediction_bias']:+.4f}")
    if "test_cost" in m:
        lines.append(_money_line(cfg, dataset, m))
    lines.append(f"  objective: {_objective_words(result)}")
    lines.append(f"  MLflow run {result.run_id} · {tracking.ui_hint(str(cfg.tracking.uri))}")
    print("\n".join(lines), flush=True)


def _objective_words(result: Result) -> str:
    return ", ".join(f"{key} = {result.metrics[key]:.4f}" for key in result.objective.keys)


def _check_multiclass_objective(objective: Objective, dataset: Dataset) -> None:
    """A metric only multi-class runs log, asked of a binary dataset: said before any fit."""
    only = [m for m in objective.metrics if m in M.MULTICLASS_METRICS and m not in M.METRIC_NAMES]
    if only:
        raise ConfigError(f"objective.metric={only[0]} is a multi-class metric and dataset {dataset.name!r} is "
                          f"binary; use a binary one, e.g. pr_auc, f1_tuned or log_loss.")


# ----------------------------------------------------------------- the dataset's own columns


def _at(values: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    """A per-row column (weights, costs) at these rows, or ``None`` when the dataset has none."""
    return None if values is None else values[rows]


def _check_weight_column(cfg: DictConfig, model: Any) -> None:
    """A weight column needs a model whose ``fit`` takes weights: said before the data is read."""
    column = cfg.dataset.get("weight")
    if column is not None and not models.takes_sample_weight(model):
        raise ConfigError(f"dataset.weight={column!r} weights the training rows, and model.estimator "
                          f"{type(models.final_step(model)).__name__} takes no sample_weight in fit; use a model "
                          "whose fit takes sample_weight, or dataset.weight=null.")


def _check_cost_columns(cfg: DictConfig, objective: Objective, dataset: Dataset | None = None) -> None:
    """An objective in money needs the dataset's cost column: before loading, a ``dataset.cost``
    left null; after, a dataset (of any source) that has no costs."""
    wanted = [m for m in objective.metrics if m in M.COST_METRICS]
    if not wanted:
        return
    if dataset is None and not ("cost" in cfg.dataset and cfg.dataset.get("cost") is None):
        return
    if dataset is None or dataset.cost is None:
        raise ConfigError(f"objective.metric={wanted[0]} needs dataset.cost, the column of what missing each "
                          "positive costs (e.g. the amount), and the dataset has none; set dataset.cost=COLUMN "
                          "(dataset=file) or use another metric, e.g. objective.metric=pr_auc.")


def _money(dataset: Dataset, rows: np.ndarray, scores: np.ndarray, threshold: float,
           rule: dict[str, Any]) -> dict[str, float]:
    """The ``cost*`` metrics of these rows at the threshold, where the dataset has costs."""
    if dataset.cost is None:
        return {}
    return M.cost_metrics(dataset.y[rows], scores, threshold, dataset.cost[rows], rule["cost_fp"])


def _column_tags(cfg: DictConfig, dataset: Dataset, split: Split) -> dict[str, str]:
    """What the run did with the dataset's own columns, in words a reader of the run finds."""
    tags: dict[str, str] = {}
    if split.description:
        tags[names.SPLIT_PARTS_TAG] = split.description
    if dataset.weight is not None:
        column = column_words(dataset, "weight")
        # valid and test are judged as the rows come (DESIGN.md: never reweighted), so the
        # numbers of a weighted run compare with an unweighted one's on the same rows
        tags[names.ROW_WEIGHTS_TAG] = (f"training only: the model is fitted with {column} (times the strategy's "
                                       "weights); valid and test metrics are unweighted")
    if dataset.cost is not None:
        column = column_words(dataset, "cost")
        rule = _threshold_rule(cfg)
        how = ("threshold.rule=min_cost: the threshold minimises on valid the missed positives' "
               f"costs ({column}) + threshold.cost_fp={rule['cost_fp']:g} per false positive "
               "(threshold.cost_fn is not used)"
               if rule["rule"] == "min_cost" else
               f"threshold.rule={rule['rule']} chooses the threshold; {column} only prices it "
               "(threshold.rule=min_cost would choose it by cost)")
        tags[names.ROW_COSTS_TAG] = how
        log.info("%s", how)
    return tags


def _money_line(cfg: DictConfig, dataset: Dataset, m: dict[str, float]) -> str:
    """The console line of what the tuned threshold costs and saves against flagging nobody."""
    def share(split: str) -> str:
        value = m[f"{split}_cost_saved_share"]
        return f"{100 * value:.1f}%" if np.isfinite(value) else "n/a"

    fp = _threshold_rule(cfg)["cost_fp"]
    column = column_words(dataset, "cost")
    return (f"  money ({column}, {fp:g} per false alarm): test cost {m['test_cost']:,.2f} at the tuned "
            f"threshold, saved {m['test_cost_saved']:,.2f} of {m['test_cost_flag_none']:,.2f} ({share('test')}) "
            f"against flagging nobody; valid saved {m['valid_cost_saved']:,.2f} ({share('valid')})")
