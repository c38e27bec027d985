"""Paired comparisons of runs on the same test rows, and groups of repeated seeds.

A strategy is judged against doing nothing: its *baseline* is the latest FINISHED run of the same
experiment with ``strategy=none`` and every other setting the same (dataset, model, split, seed,
calibration, threshold, deployment and metrics). Both runs scored the same test rows, so the
difference of a metric is measured row by row (:func:`imbexp.intervals.paired`), which is far
tighter than reading two runs' overlapping marginal intervals. A strategy with a factor is also
compared with itself at factor 1, under the suffix ``_vs_factor1``. ``compare_to=<run id>``
compares a run with any run of the same test rows instead.

``repeats=k`` runs one configuration with k seeds under a group run, which logs the mean, the
standard deviation and the t interval across seeds of every metric, and of the per-seed deltas:
a claim about a technique, not about one draw of the split, the resample and the model.

Everything is read back from MLflow (each run's params, ``config.yaml`` and
``predictions/test.parquet``), so runs of other processes, machines or earlier commands pair alike.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf, open_dict

from imbexp import intervals, names, tracking
from imbexp.errors import ConfigError, ImbexpError

log = logging.getLogger("imbexp")

#: ``strategy._target_`` of ``conf/strategy/none.yaml``: training on the true distribution
BASELINE_TARGET = "imbexp.strategies.NoRebalancing"
#: params that do not make two runs different experiments: the strategy is what is compared,
#: tracking only says where a run is logged
FREE_PREFIXES = ("strategy.", "tracking.")
#: resamples of a paired bootstrap when the run's ``metrics.bootstrap`` is 0 (off for its own
#: intervals; a comparison still needs one)
DEFAULT_RESAMPLES = 1000
#: the metrics of the console tables (every one of intervals.DELTA_METRICS is logged)
SHOWN = ("pr_auc", "roc_auc", "prediction_bias", "ece")
#: configurations listed in the table at the end of a grid or sweep (the rest are in MLflow)
MAX_TABLE_ROWS = 30
#: baselines a grid or sweep adds at most: a sweep over the model's settings has one baseline per
#: distinct model, which would double its runs; the rest are named, and skipped
MAX_ADDED_BASELINES = 5
PREDICTIONS = "predictions/test.parquet"


# -- what a run is ----------------------------------------------------------------------------
def is_baseline(run: Any) -> bool:
    return run.data.params.get("strategy._target_") == BASELINE_TARGET


def classes_of(run: Any) -> list[str] | None:
    """A multi-class run's labels in code order (its ``imbexp.classes`` tag); None for a binary run."""
    import json

    text = run.data.tags.get(names.CLASSES_TAG)
    return None if text is None else list(json.loads(text))


def is_group(run: Any) -> bool:
    return names.REPEATS_TAG in run.data.tags


#: params added after runs were logged without them, as the text they log at the value that
#: means what those runs did: an older run pairs with a newer one that logs the key at that value
ADDED_PARAMS = {key: tracking.param_text(value) for key, value in names.ADDED_KEYS.items()}


def _identity(run: Any) -> tuple[tuple[str, str], ...]:
    """The params two runs must share to be paired, beside the strategy."""
    return tuple(sorted((k, v) for k, v in run.data.params.items()
                        if not k.startswith(FREE_PREFIXES) and k not in names.READ_KEYS and ADDED_PARAMS.get(k) != v))


def _strategy_params(run: Any) -> dict[str, str]:
    return {k: v for k, v in run.data.params.items() if k.startswith("strategy.")}


def _as_number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def factor_name(run: Any) -> str | None:
    """The strategy's factor param (``downsample_factor``...) when its factor is one number."""
    name = run.data.tags.get(names.FACTOR_NAME_TAG)
    return name if name and names.FACTOR_METRIC in run.data.metrics else None


def label(run: Any) -> str:
    """A run's configuration in the user's words: its name (``downsample_upweight f=10 · lightgbm``)."""
    return run.info.run_name or run.info.run_id


@dataclass
class Comparison:
    """One run against another on the same test rows: the deltas, or why there are none."""

    run_id: str
    against: str
    suffix: str
    deltas: dict[str, intervals.Delta] | None
    reason: str | None = None


class Comparer:
    """Finds baselines and compares runs of one MLflow store, reading each run once.

    The candidate runs of an experiment are searched once per strategy and kept: a grid of
    n runs costs a handful of searches, not n.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._candidates: dict[tuple[str, str], list[Any]] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._predictions: dict[str, pd.DataFrame] = {}

    # -- finding -------------------------------------------------------------------------------
    def _finished(self, experiment_id: str, target: str) -> list[Any]:
        """FINISHED runs of the experiment with this ``strategy._target_``, newest first."""
        key = (experiment_id, target)
        if key not in self._candidates:
            found, token = [], None
            while True:
                page = self.client.search_runs(
                    [experiment_id], max_results=1000, page_token=token, order_by=["attributes.start_time DESC"],
                    filter_string=f"attributes.status = 'FINISHED' and params.`strategy._target_` = '{target}'")
                found += [run for run in page if not is_group(run)]
                token = page.token
                if not token:
                    break
            self._candidates[key] = found
        return self._candidates[key]

    def add(self, run: Any) -> None:
        """A run finished after the search (a baseline just added) is a candidate too."""
        key = (run.info.experiment_id, run.data.params.get("strategy._target_", ""))
        if key in self._candidates:
            self._candidates[key].insert(0, run)

    def config(self, run_id: str) -> dict[str, Any]:
        """The run's resolved ``config.yaml`` (its ``metrics`` section is not among the params)."""
        if run_id not in self._configs:
            with tempfile.TemporaryDirectory(prefix="imbexp-compare-") as tmp, tracking.quiet_downloads():
                try:
                    path = self.client.download_artifacts(run_id, "config.yaml", tmp)
                    self._configs[run_id] = OmegaConf.to_container(OmegaConf.load(path)) or {}
                except Exception:  # a run logged before config.yaml existed: only its params count
                    self._configs[run_id] = {}
        return self._configs[run_id]

    def _metrics_settings(self, run_id: str) -> Any:
        return self.config(run_id).get("metrics")

    def _bins(self, run_id: str) -> int:
        return int((self._metrics_settings(run_id) or {}).get("ece_bins", 15))

    def _matches(self, run: Any, other: Any) -> bool:
        # of the metrics settings only ECE's bins change the scores' comparison: the resamples are
        # the compared run's own, so a baseline logged with another metrics.bootstrap serves
        return (other.info.run_id != run.info.run_id and _identity(other) == _identity(run)
                and self._bins(other.info.run_id) == self._bins(run.info.run_id))

    def baseline_of(self, run: Any) -> Any | None:
        """The latest FINISHED strategy=none run with the same settings, or None. A baseline run
        has none of its own."""
        if is_baseline(run):
            return None
        return next((o for o in self._finished(run.info.experiment_id, BASELINE_TARGET) if self._matches(run, o)),
                    None)

    def factor1_of(self, run: Any) -> Any | None:
        """The latest FINISHED run of the same strategy at factor 1 with the same settings, or
        None (also for a run at factor 1 itself, or a strategy without a factor)."""
        name = factor_name(run)
        if name is None or run.data.metrics.get(names.FACTOR_METRIC) == 1:
            return None
        key = f"strategy.{name}"
        others = {k: v for k, v in _strategy_params(run).items() if k != key}
        for other in self._finished(run.info.experiment_id, run.data.params.get("strategy._target_", "")):
            params = _strategy_params(other)
            if (_as_number(params.get(key)) == 1 and {k: v for k, v in params.items() if k != key} == others
                    and self._matches(run, other)):
                return other
        return None

    # -- comparing -----------------------------------------------------------------------------
    def predictions(self, run_id: str) -> pd.DataFrame:
        if run_id not in self._predictions:
            with tempfile.TemporaryDirectory(prefix="imbexp-compare-") as tmp, tracking.quiet_downloads():
                try:
                    path = self.client.download_artifacts(run_id, PREDICTIONS, tmp)
                except Exception as exc:
                    raise ImbexpError(f"run {run_id} has no {PREDICTIONS} artifact to compare ({exc}); "
                                      "compare runs made by imbexp.") from None
                self._predictions[run_id] = pd.read_parquet(path)
        return self._predictions[run_id]

    def rows_differ(self, run_id: str, other_id: str) -> str | None:
        """Why two runs' test rows are not the same rows, or None."""
        a, b = self.predictions(run_id), self.predictions(other_id)
        if len(a) != len(b):
            return f"{len(a):,} test rows against {len(b):,}"
        if not np.array_equal(a["y_true"].to_numpy(), b["y_true"].to_numpy()):
            return "the same number of test rows but other labels"
        known = [c for c in a.columns if c.startswith("p_true") and c in b.columns]  # p_true_<class>: multi-class
        if known and not np.allclose(a[known].to_numpy(), b[known].to_numpy()):
            return "the same labels but other rows (their known class probabilities differ)"
        return None

    def too_few(self, run: Any) -> str | None:
        """Why ``run``'s test rows are too few for paired deltas (positives; for a multi-class run
        the rows of its smallest class), or None."""
        y = self.predictions(run.info.run_id)["y_true"].to_numpy()
        classes = classes_of(run)
        if classes is None:
            return intervals.too_few(y)
        from imbexp.multiclass import intervals as multiclass

        return multiclass.too_few(y, classes)

    def paired(self, run: Any, other: Any) -> dict[str, intervals.Delta] | str:
        """The deltas of ``run`` minus ``other`` on their shared test rows, or the reason there
        are none (too few test positives). The test rows must be the same (see :meth:`rows_differ`)."""
        a, b = self.predictions(run.info.run_id), self.predictions(other.info.run_id)
        y = a["y_true"].to_numpy()
        reason = self.too_few(run)
        if reason is not None:
            return reason
        settings = self._metrics_settings(run.info.run_id) or {}
        n_bins = int(settings.get("ece_bins", 15))
        n_resamples = int(settings.get("bootstrap", 0)) or DEFAULT_RESAMPLES
        seed = int(_as_number(run.data.params.get("seed")) or 0)
        classes = classes_of(run)
        if (classes is None) != (classes_of(other) is None):
            return "one run is binary and the other multi-class: there is nothing to pair"
        if classes is not None:  # the class probabilities and decisions of each run, paired by row
            from imbexp.multiclass import class_key
            from imbexp.multiclass import intervals as multiclass

            if classes_of(other) != classes:
                return f"the other run has other classes ({classes_of(other)} against {classes})"
            columns = [f"p_{class_key(c)}" for c in classes]
            return multiclass.paired_deltas(y, a[columns].to_numpy(), a["y_pred"].to_numpy(), b[columns].to_numpy(),
                                            b["y_pred"].to_numpy(), n_bins=n_bins, n_resamples=n_resamples, seed=seed)
        return intervals.paired(y, a["y_score"].to_numpy(), b["y_score"].to_numpy(),
                                float(run.data.metrics.get("threshold_tuned", 0.5)),
                                float(other.data.metrics.get("threshold_tuned", 0.5)),
                                n_bins=n_bins, n_resamples=n_resamples, seed=seed)

    def compare(self, run: Any, other: Any, suffix: str, tag: str) -> Comparison:
        """Compare and log into ``run``: the deltas under ``test_<m>_delta{suffix}*`` and ``tag``
        naming ``other`` (or only the reason tag when there are too few positives). Raises an
        ImbexpError when the two runs' test rows differ."""
        from mlflow.entities import Metric, RunTag

        run_id, other_id = run.info.run_id, other.info.run_id
        differ = self.rows_differ(run_id, other_id)
        if differ is not None:
            raise ImbexpError(f"run {run_id} and run {other_id} were not tested on the same rows ({differ})")
        result = self.paired(run, other)
        now = int(time.time() * 1000)
        if isinstance(result, str):
            self.client.set_tag(run_id, names.NO_DELTA_TAG, f"{result}; compared with run {other_id}")
            return Comparison(run_id, other_id, suffix, None, result)
        values = {k: v for k, v in intervals.delta_metrics(result, suffix).items() if math.isfinite(v)}
        self.client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in values.items()],
                              tags=[RunTag(tag, other_id)])
        return Comparison(run_id, other_id, suffix, result)

    def with_baselines(self, run: Any) -> list[Comparison]:
        """``run`` against its baseline (unless it was compared with a given run: the plain names
        are taken) and against factor 1, whichever exist. Test rows that differ from a baseline's
        (data changed between the runs) are a warning: a grid goes on."""
        done = []
        pairs = [(self.factor1_of(run), names.FACTOR1_SUFFIX, names.FACTOR1_RUN_TAG)]
        if names.COMPARED_TO_TAG not in run.data.tags:
            pairs.insert(0, (self.baseline_of(run), "", names.BASELINE_RUN_TAG))
        for other, suffix, tag in pairs:
            if other is None:
                continue
            try:
                done.append(self.compare(run, other, suffix, tag))
            except ImbexpError as exc:
                log.warning("not compared: %s", exc)
        return done


def deltas_of(metrics: dict[str, float], suffix: str = "") -> dict[str, intervals.Delta]:
    """The deltas logged on a run (or a group) under ``test_<m>_delta{suffix}*``, read back."""
    out = {}
    for metric in intervals.DELTA_METRICS:
        key = f"test_{metric}_delta{suffix}"
        if key in metrics:
            out[metric] = intervals.Delta(metrics[key], metrics.get(f"{key}_ci_low", math.nan),
                                          metrics.get(f"{key}_ci_high", math.nan), metrics.get(f"{key}_p", math.nan),
                                          intervals.DELTA_METHODS.get(metric, ""))
    return out


def delta_lines(deltas: dict[str, intervals.Delta], shown: Iterable[str] = SHOWN, indent: str = "  ") -> list[str]:
    """``metric, delta [low, high], p, verdict``, one line per metric."""
    lines = [f"{indent}{'metric':<17}{'delta':>9}  {'95 % interval':<22}{'p':>7}  verdict"]
    for metric in shown:
        if metric not in deltas:
            continue
        d = deltas[metric]
        interval = f"[{d.low:+.4f}, {d.high:+.4f}]" if math.isfinite(d.low) else "[-]"
        p = f"{d.p:.3f}" if math.isfinite(d.p) else "-"
        lines.append(f"{indent}{metric:<17}{d.value:>+9.4f}  {interval:<22}{p:>7}  {d.verdict(metric)}")
    return lines


def methods_line(shown: Iterable[str] = SHOWN, indent: str = "  ", note: str = "", multiclass: bool = False) -> str:
    """Which method each shown delta's interval comes from, wrapped below 120 characters."""
    import textwrap

    methods = intervals.DELTA_METHODS
    if multiclass:
        from imbexp.multiclass import intervals as multiclass_intervals

        methods = multiclass_intervals.DELTA_METHODS
        shown = [m for m in shown if m in methods] or list(methods)
    grouped: dict[str, list[str]] = {}
    for metric in shown:
        method = methods[metric]
        grouped.setdefault(intervals.METHOD_WORDS.get(method, method), []).append(metric)
    text = "intervals: " + "; ".join(f"{', '.join(metrics)}: {words}" for words, metrics in grouped.items()) + note
    return textwrap.fill(text, width=118, initial_indent=indent, subsequent_indent=indent + "  ")


def _say(text: str) -> None:
    print(text, flush=True)


# -- compare_to=<run id> on one run -----------------------------------------------------------
def check_compare_to(cfg: DictConfig) -> None:
    """``compare_to`` names a FINISHED run of this store (and, under ``repeats=k``, a group of k
    seed runs, compared seed by seed): said before any data is read."""
    from mlflow.exceptions import MlflowException

    from imbexp import tracking

    target = cfg.get("compare_to")
    if not target:
        return
    uri = str(cfg.tracking.uri)
    client = tracking.open_store(uri)
    tracking.connect(uri, tracking.default_experiment(cfg))
    use = "use the id of a FINISHED run of this store (the MLflow UI shows it), or null"
    try:
        run = client.get_run(str(target))
    except MlflowException:
        raise ConfigError(f"compare_to={target} is not a run in {tracking.redact(uri)}; {use}.") from None
    if run.info.lifecycle_stage != "active" or run.info.status != "FINISHED":
        what = "a deleted" if run.info.lifecycle_stage != "active" else f"a {run.info.status}"
        raise ConfigError(f"compare_to={target} is {what} run; {use}.")
    repeats = int(cfg.get("repeats", 1) or 1)
    theirs = int(_as_number(run.data.tags.get(names.REPEATS_TAG)) or 1)
    if theirs == 1:
        try:
            kept = {a.path for a in client.list_artifacts(str(target), "predictions")}
        except Exception:  # the artifacts cannot be listed: the comparison after the run says why
            kept = {PREDICTIONS}
        if PREDICTIONS not in kept:
            raise ConfigError(f"compare_to={target} has no {PREDICTIONS} to pair with (a grid's or sweep's "
                              f"parent run?); use the id of a run that was tested, e.g. one of its runs, or null.")
    if repeats != theirs:
        has = f"a group of {theirs} seeds" if theirs > 1 else "a single run"
        raise ConfigError(f"compare_to={target} is {has}, but repeats={repeats}; use a run of repeats={repeats} "
                          "(seed runs are paired seed by seed), or null.")


def compare_to(cfg: DictConfig, run_id: str, client: Any | None = None, print_table: bool = True) -> Comparison:
    """After a run: compare it with the run ``compare_to`` names, log the plain delta names and
    the tag ``imbexp.compared_to``, and print the table. Test rows that differ are an
    ImbexpError in one sentence (the run stays logged, without deltas)."""
    from mlflow.tracking import MlflowClient

    target = str(cfg.compare_to)
    comparer = Comparer(client or MlflowClient(str(cfg.tracking.uri)))
    run, other = comparer.client.get_run(run_id), comparer.client.get_run(target)
    differ = comparer.rows_differ(run_id, target)
    if differ is not None:
        raise ImbexpError(f"compare_to={target} was tested on other rows than this run ({differ}); run {run_id} "
                          "is logged without deltas; use a run with the same dataset, split and seed.")
    comparison = comparer.compare(run, other, "", names.COMPARED_TO_TAG)
    if print_table:
        _say(f"vs {target} ({label(other)}), paired on the same {len(comparer.predictions(run_id)):,} test rows:")
        _say("\n".join([*delta_lines(comparison.deltas), methods_line(multiclass=classes_of(run) is not None)])
             if comparison.deltas
             else f"  {comparison.reason}")
    return comparison


# -- the end of a grid or a sweep ----------------------------------------------------------------
def _children(client: Any, experiment_id: str, parent_id: str) -> list[Any]:
    found, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token,
                                  filter_string=f"tags.`{names.PARENT_RUN_TAG}` = '{parent_id}'",
                                  order_by=["attributes.start_time ASC"])
        found += list(page)
        token = page.token
        if not token:
            return found


def _baseline_config(comparer: Comparer, run: Any, uri: str, parent_id: str) -> DictConfig:
    """The job of ``run`` (its logged config) with strategy=none, nested under ``parent_id``."""
    from imbexp._paths import config_dir

    cfg = OmegaConf.create(copy.deepcopy(comparer.config(run.info.run_id)))
    tags = {k: v for k, v in (cfg.tracking.get("tags") or {}).items()
            if k not in (names.REPEAT_GROUP_TAG, names.REPEAT_TAG)}
    cfg.strategy = OmegaConf.load(config_dir() / "strategy" / "none.yaml")
    cfg.tracking.tags = {**tags, names.BASELINE_TAG: "true"}
    cfg.tracking.uri = uri  # the logged one has its credentials redacted
    cfg.tracking.run_id = None
    cfg.tracking.parent_run_id = parent_id
    cfg.repeats, cfg.compare_to = 1, None
    return cfg


def compare_children(uri: str, parent_id: str, run_one: Callable[[DictConfig], Any] | None = None,
                     what: str = "grid") -> list[Comparison]:
    """At the end of a grid or sweep: every FINISHED run under ``parent_id`` (the seed runs of
    its groups too) against its baseline and factor 1; a baseline missing from the experiment
    is run once first (``run_one(cfg)``, nested under the parent, tagged ``imbexp.baseline``)
    unless the test rows have too few positives for any delta;
    groups then log their seed-mean deltas; the table of configurations vs baseline is printed."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    comparer = Comparer(client)
    experiment_id = client.get_run(parent_id).info.experiment_id
    children = [run for run in _children(client, experiment_id, parent_id)
                if run.info.status == "FINISHED" or is_group(run)]
    groups = {run.info.run_id: [seed for seed in _children(client, experiment_id, run.info.run_id)
                                if seed.info.status == "FINISHED"] for run in children if is_group(run)}
    targets = [run for run in children if not is_group(run)] + [seed for seeds in groups.values() for seed in seeds]
    targets = [run for run in targets if not is_baseline(run)]
    if not targets:
        return []

    if run_one is not None:  # one baseline per (data, model, split, seed, settings) that has none
        missing: dict[Any, Any] = {}
        for run in targets:
            if names.COMPARED_TO_TAG in run.data.tags or comparer.baseline_of(run) is not None:
                continue
            try:
                few = comparer.too_few(run)
            except ImbexpError as exc:
                log.warning("[compare] %s", exc)
                continue
            if not comparer.config(run.info.run_id):
                log.warning("[compare] run %s has no config.yaml to run its baseline from", run.info.run_id)
                continue
            if few is not None:  # a baseline run could give no deltas: none is run for it
                client.set_tag(run.info.run_id, names.NO_DELTA_TAG, f"{few}; no baseline run was added")
                continue
            key = (_identity(run), comparer._bins(run.info.run_id))
            missing.setdefault(key, run)
        # the limit counts settings, not seeds: every seed of a kept setting gets its baseline (a
        # group's deltas need all of them)
        settings = list(dict.fromkeys(tuple(p for p in key[0] if p[0] != "seed") for key in missing))
        if len(settings) > MAX_ADDED_BASELINES:
            _say(f"[compare] {len(settings)} settings (model, data or split) of this {what} have no baseline "
                 f"run; adding those of the first {MAX_ADDED_BASELINES}. Run strategy=none with the others' "
                 "settings to compare them too.")
        kept = set(settings[:MAX_ADDED_BASELINES])
        lacking = []
        for key, run in missing.items():
            if tuple(p for p in key[0] if p[0] != "seed") in kept:
                lacking.append(run)
            else:
                client.set_tag(run.info.run_id, names.NO_DELTA_TAG,
                               f"no strategy=none run with these settings; the {what} added baselines for only "
                               f"{MAX_ADDED_BASELINES} settings")
        for number, run in enumerate(lacking, start=1):
            seed = run.data.params.get("seed", "?")
            _say(f"[compare] no baseline for {label(run)}, seed {seed}: adding a strategy=none run to the {what} "
                 f"({number} of {len(lacking)})")
            try:
                added = run_one(_baseline_config(comparer, run, uri, parent_id))
            except Exception as exc:  # the runs are tracked; the comparison of that group is skipped
                log.warning("[compare] the baseline for %s could not be run: %s", label(run), exc)
                continue
            comparer.add(client.get_run(added.run_id))

    comparisons: list[Comparison] = []
    started = time.monotonic()
    for number, run in enumerate(targets, start=1):
        done = comparer.with_baselines(run)
        comparisons += done
        against = ", ".join(f"{'factor 1' if c.suffix else 'baseline'} {c.against[:8]}" for c in done) or "no baseline"
        _say(f"[compare] {number} of {len(targets)}: {label(run)} (run {run.info.run_id[:8]}) vs {against} · "
             f"{time.monotonic() - started:.0f} s")

    for group_id, seeds in groups.items():
        if seeds:
            log_group_deltas(client, group_id, [client.get_run(s.info.run_id) for s in seeds])
    _say(summary_table(client, experiment_id, parent_id))
    return comparisons


def summary_table(client: Any, experiment_id: str, parent_id: str) -> str:
    """Each configuration under ``parent_id`` (a group counts once) against its baseline."""
    rows = [run for run in _children(client, experiment_id, parent_id)
            if (run.info.status == "FINISHED" or is_group(run)) and not is_baseline(run)]
    lines = ["vs baseline (strategy=none; same data, model, split, seed and settings), paired on the test rows, "
             "95 % intervals:"]
    shown = 0
    for run in rows:
        run = client.get_run(run.info.run_id)  # the deltas logged since the search
        plain, factor1 = deltas_of(run.data.metrics), deltas_of(run.data.metrics, names.FACTOR1_SUFFIX)
        if not plain and not factor1:
            continue
        shown += 1
        if shown > MAX_TABLE_ROWS:
            continue
        # the run's name carries its label and factor (and a group's, its number of seeds)
        lines.append(f"  {label(run)[:75]} · run {run.info.run_id}")
        for deltas, against in ((plain, "baseline"), (factor1, "factor 1")):
            if deltas:
                lines.append(f"    vs {against}:")
                lines += delta_lines(deltas, indent="      ")
    if shown == 0:
        return ("[compare] no run has paired deltas: none has a baseline, or their test rows have too few "
                f"positives (the tag {names.NO_DELTA_TAG} says which)")
    if shown > MAX_TABLE_ROWS:
        lines.append(f"  ... and {shown - MAX_TABLE_ROWS} more configurations (their deltas are in MLflow)")
    lines.append(methods_line(note=" (a group's: the t interval of its seeds' deltas)",
                              multiclass=any(classes_of(run) is not None for run in rows)))
    return "\n".join(lines)


# -- repeats=k ----------------------------------------------------------------------------------
#: metric endings that are bounds or p-values of an interval: a group gives its own interval
#: across seeds instead of averaging the bounds of the seeds' own
_BOUND_ENDINGS = ("_ci_low", "_ci_high", "_p", "_sd")


def _t_test_p(values: list[float]) -> float:
    from scipy.stats import ttest_1samp

    v = np.asarray([x for x in values if math.isfinite(x)])
    if v.size < 2 or np.std(v) == 0:
        return math.nan
    return float(ttest_1samp(v, 0.0).pvalue)


def _delta_keys() -> set[str]:
    return {f"test_{m}_delta{s}" for m in intervals.DELTA_METRICS for s in ("", names.FACTOR1_SUFFIX)}


def group_metrics(seed_runs: list[Any]) -> dict[str, float]:
    """What a group logs from its seed runs, for each metric they all have: the mean as ``m``,
    ``m_sd``, and for test metrics ``m_seed_ci_low`` / ``_high`` (t interval across seeds); a
    metric equal in every seed (the factor, the dataset's size) is logged once. Deltas are
    :func:`group_deltas`'s."""
    shared = set.intersection(*(set(run.data.metrics) for run in seed_runs))
    deltas = _delta_keys()
    out: dict[str, float] = {}
    for key in sorted(shared):
        if key in deltas or key.startswith(tuple(f"{d}_" for d in deltas)) or key.endswith(_BOUND_ENDINGS):
            continue
        values = [run.data.metrics[key] for run in seed_runs]
        if all(v == values[0] for v in values):
            out[key] = values[0]
            continue
        mean, sd, low, high = intervals.seed_interval(values, intervals.bounds_of(key))
        out[key], out[f"{key}_sd"] = mean, sd
        if key.startswith("test_"):
            out[f"{key}_seed_ci_low"], out[f"{key}_seed_ci_high"] = low, high
    return out


def group_deltas(seed_runs: list[Any]) -> dict[str, float]:
    """The mean per-seed delta with the t interval across seeds (and a t-test's p), under the
    seeds' own ``test_<m>_delta*`` names: only when every seed run has that delta."""
    out: dict[str, float] = {}
    for key in sorted(_delta_keys()):
        if not all(key in run.data.metrics for run in seed_runs):
            continue
        values = [run.data.metrics[key] for run in seed_runs]
        mean, sd, low, high = intervals.seed_interval(values)
        out.update({key: mean, f"{key}_sd": sd, f"{key}_ci_low": low, f"{key}_ci_high": high,
                    f"{key}_p": _t_test_p(values)})
    return out


def log_group_deltas(client: Any, group_id: str, seed_runs: list[Any]) -> dict[str, float]:
    from mlflow.entities import Metric, RunTag

    values = {k: v for k, v in group_deltas(seed_runs).items() if math.isfinite(v)}
    tags = []
    for tag in (names.BASELINE_RUN_TAG, names.COMPARED_TO_TAG, names.FACTOR1_RUN_TAG):
        against = [run.data.tags.get(tag) for run in seed_runs]
        if all(against):  # each seed's own, in seed order
            tags.append(RunTag(tag, ",".join(dict.fromkeys(against))[:5000]))
    now = int(time.time() * 1000)
    if values or tags:
        client.log_batch(group_id, metrics=[Metric(k, v, now, 0) for k, v in values.items()], tags=tags)
    return values


@dataclass
class GroupResult:
    """What ``repeats=k`` returns to the app: the group's run id and the seed mean objective."""

    run_id: str
    value: float | list[float]


def _mean_value(values: list[float | list[float]]) -> float | list[float]:
    if isinstance(values[0], list):
        return [float(np.mean(column)) for column in zip(*values, strict=True)]
    return float(np.mean(values))


def run_repeats(cfg: DictConfig, run_one: Callable[[DictConfig], Any], baselines_now: bool) -> GroupResult:
    """``repeats=k``: the config with seeds seed..seed+k-1, each a normal run nested under one
    group run, which then logs the seeds' mean, sd and t interval (:func:`group_metrics`).

    Under a sweeper's trial (``tracking.run_id`` given) that trial's run is the group and the
    sweeper closes it; otherwise the group is made here and closed FINISHED, FAILED when a seed
    run fails, KILLED on Ctrl-C or SIGTERM (no stop leaves it RUNNING). Each seed run is compared
    with the seed run of the same index in the ``compare_to`` group; else, with
    ``baselines_now`` (a single command: a grid or sweep compares all its runs at its end), with
    its baseline where the experiment has one."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from imbexp import lifecycle, tracking

    k, base = int(cfg.repeats), int(cfg.seed)
    uri = str(cfg.tracking.uri)
    experiment_id = tracking.connect(uri, tracking.default_experiment(cfg))
    lifecycle.close_dead_runs(uri, experiment_id, cfg.tracking.get("stale_after_hours"))
    client = MlflowClient(uri)
    given = cfg.tracking.get("run_id")
    tags = {names.REPEATS_TAG: str(k), **lifecycle.process_tags(),
            **{str(key): str(v) for key, v in (cfg.tracking.get("tags") or {}).items()}}
    if given:
        group_id = str(given)
        tracking._check_run("tracking.run_id", group_id, experiment_id, continued=True)
        client.log_batch(group_id, tags=[RunTag(key, v) for key, v in tags.items()])
    else:
        parent = cfg.tracking.get("parent_run_id")
        if parent:
            tracking._check_run("tracking.parent_run_id", str(parent), experiment_id, continued=False)
        parent = parent or os.environ.get(tracking.PARENT_RUN_ENV)
        if parent:
            tags[names.PARENT_RUN_TAG] = str(parent)
        group_id = client.create_run(experiment_id, run_name=f"{k} seeds", tags=tags).info.run_id
    _say(f"[repeats] group run {group_id}: {k} runs with seeds {base}..{base + k - 1}")
    try:
        results = []
        for index in range(k):
            seed_cfg = copy.deepcopy(cfg)
            with open_dict(seed_cfg):
                seed_cfg.seed, seed_cfg.repeats = base + index, 1
                seed_cfg.tracking.run_id, seed_cfg.tracking.parent_run_id = None, group_id
                seed_cfg.tracking.tags = {**(seed_cfg.tracking.get("tags") or {}),
                                          names.REPEAT_GROUP_TAG: group_id, names.REPEAT_TAG: str(index)}
                seed_cfg.compare_to = None
            _say(f"[repeats] seed {base + index} ({index + 1} of {k})")
            results.append(run_one(seed_cfg))
        seed_ids = [result.run_id for result in results]
        seed_runs = [client.get_run(run_id) for run_id in seed_ids]
        first = seed_runs[0]
        now = int(time.time() * 1000)
        values = {name: v for name, v in group_metrics(seed_runs).items() if math.isfinite(v)}
        params = {**first.data.params, "seed": str(base)}
        items = list(params.items())
        step = tracking.MAX_PARAMS_PER_BATCH
        for start in range(0, len(items), step):
            client.log_batch(group_id, params=[Param(key, v) for key, v in items[start:start + step]])
        metrics = [Metric(key, v, now, 0) for key, v in values.items()]
        for start in range(0, len(metrics), 1000):  # MLflow's batch limit
            client.log_batch(group_id, metrics=metrics[start:start + 1000])
        copied = [RunTag(t, first.data.tags[t]) for t in tracking.GROUP_TAGS if t in first.data.tags]
        client.log_batch(group_id, tags=copied)
        client.update_run(group_id, name=f"{label(first)} · {k} seeds")
        # compared once the group's own numbers are logged: rows that differ from compare_to's
        # are one sentence after the runs, as for a single run, and lose nothing
        refused = None
        if cfg.get("compare_to") or baselines_now:
            try:
                _compare_seeds(cfg, client, seed_ids)
            except ImbexpError as exc:
                refused = exc
            seed_runs = [client.get_run(run_id) for run_id in seed_ids]
        group_values = {**values, **log_group_deltas(client, group_id, seed_runs)}
    except BaseException as exc:
        if not given:  # a sweeper closes its trial's run itself
            stopped = isinstance(exc, lifecycle.Stopped | KeyboardInterrupt)
            with contextlib.suppress(Exception):
                if stopped:
                    client.set_tag(group_id, names.STOP_REASON_TAG, getattr(exc, "name", "SIGINT"))
                client.set_terminated(group_id, "KILLED" if stopped else "FAILED")
            print(f"imbexp: group run {group_id} of repeats={k} marked {'KILLED' if stopped else 'FAILED'}",
                  file=sys.stderr, flush=True)
        raise
    if not given:
        client.set_terminated(group_id, "FINISHED")
    if refused is not None:
        raise refused
    compared = sum("test_pr_auc_delta" in run.data.metrics for run in seed_runs)
    _print_group(group_id, base, k, group_values, cfg, compared)
    return GroupResult(group_id, _mean_value([result.value for result in results]))


def _compare_seeds(cfg: DictConfig, client: Any, seed_ids: list[str]) -> None:
    """Each seed run against the seed run of the same index in the ``compare_to`` group, or
    against its own baseline where the experiment has one."""
    comparer = Comparer(client)
    target = cfg.get("compare_to")
    if target:
        theirs = {run.data.tags.get(names.REPEAT_TAG): run for run in
                  _children(client, client.get_run(str(target)).info.experiment_id, str(target))}
        for index, run_id in enumerate(seed_ids):
            other = theirs.get(str(index))
            if other is None:
                raise ImbexpError(f"compare_to={target} has no seed run {index}; use a complete group of the "
                                  "same repeats, or null.")
            run = client.get_run(run_id)
            differ = comparer.rows_differ(run_id, other.info.run_id)
            if differ is not None:
                raise ImbexpError(f"compare_to={target}: its seed run {index} was tested on other rows than this "
                                  f"group's ({differ}); use a group with the same dataset, split and seed.")
            comparer.compare(run, other, "", names.COMPARED_TO_TAG)
        return
    for run_id in seed_ids:
        comparer.with_baselines(client.get_run(run_id))


def _print_group(group_id: str, base: int, k: int, values: dict[str, float], cfg: DictConfig,
                 compared: int) -> None:
    from imbexp import tracking

    lines = [f"imbexp · repeats={k} · seeds {base}..{base + k - 1} · group run {group_id}",
             f"  {'metric':<24}{'mean':>10}{'sd':>10}  95 % t interval across seeds"]
    for name in ("pr_auc", "roc_auc", "f1_tuned", "ece", "prediction_bias", "brier"):
        key = f"test_{name}"
        if key not in values:
            continue
        low, high = values.get(f"{key}_seed_ci_low", math.nan), values.get(f"{key}_seed_ci_high", math.nan)
        interval = f"[{low:.4f}, {high:.4f}]" if math.isfinite(low) else "-"
        lines.append(f"  {key:<24}{values[key]:>10.4f}{values.get(f'{key}_sd', 0.0):>10.4f}  {interval}")
    deltas = deltas_of(values)
    if not deltas and 0 < compared < k:
        lines.append(f"  {compared} of {k} seed runs have a baseline in the experiment: the group logs deltas once "
                     "every seed has one (run strategy=none with the same repeats, or a grid with it)")
    if deltas:
        against = "compare_to" if cfg.get("compare_to") else "baseline"
        lines.append(f"  vs {against}, mean of the per-seed deltas (t interval across seeds):")
        lines += delta_lines(deltas, indent="  ")
    lines.append(f"  MLflow group run {group_id} · {tracking.ui_hint(str(cfg.tracking.uri))}")
    print("\n".join(lines), flush=True)
    sys.stdout.flush()


__all__ = ["BASELINE_TARGET", "Comparer", "Comparison", "GroupResult", "check_compare_to", "compare_children",
           "compare_to", "deltas_of", "group_deltas", "group_metrics", "run_repeats", "summary_table"]
