"""Pruning: a trial whose first cross-validation folds already show it cannot be the best stops
there, instead of fitting its remaining folds and its test model.

``hydra.sweeper.pruner`` names one of Optuna's own pruners (:data:`PRUNERS`) with its settings.
The trials run in the sweep's processes (Hydra's launcher calls the job in the process that asked
the study for the trial), so the run reaches the trial: :func:`reporting` makes the trial current
around its job, the run calls :func:`report_fold` after each fold (a no-op outside a pruned
sweep), and that reports the objective to the trial and raises :class:`optuna.TrialPruned` when
the pruner says stop. :func:`tell_pruned` then records the trial PRUNED and its MLflow run(s)
KILLED with the tag :data:`imbexp.names.PRUNED_TAG`.

What is reported, as each pruner expects it (one step per CV fold, counted on across the seed
runs of ``repeats=k``):
- ``median``, ``percentile``, ``successive_halving``, ``hyperband``: the objective's running mean
  over the folds done, step = folds done - 1; these compare trials at the same step, and the
  running mean after all folds is the trial's value;
- ``wilcoxon``: each fold's own value, step = the fold's index, so Optuna's WilcoxonPruner pairs
  the same fold of two trials (the folds are the same rows in every trial: same seed, same split).

Not reported: LightGBM's (or XGBoost's) boosting rounds. That needs the fold's valid rows handed
to the model's fit as an eval set with a callback per library, scoring every round, and the rounds
of all folds on one step axis that the pruners compare across trials. Per-fold reports stop whole
fits while every model is fitted exactly as in a single run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from imbexp import names
from imbexp.errors import ConfigError

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

log = logging.getLogger("imbexp")

#: hydra.sweeper.pruner's names and Optuna's classes behind them
PRUNERS: dict[str, str] = {
    "none": "NopPruner",
    "median": "MedianPruner",
    "percentile": "PercentilePruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "wilcoxon": "WilcoxonPruner",
}
_BY_TARGET = {f"optuna.pruners.{cls}": name for name, cls in PRUNERS.items()}
#: the pruner that wants each fold's own value (the others take the running mean)
PER_FOLD = "wilcoxon"


def pruner_name(spec: Any) -> str:
    """The short name of a pruner spec: null, a name, or a mapping with ``name`` or ``_target_``
    (as a ``hydra/sweeper/pruner`` config gives it)."""
    from imbexp.sweeping._samplers import short_name

    name = short_name(spec, "none", _BY_TARGET, keys=("name", "_target_"))
    if name not in PRUNERS:
        raise ConfigError(f"hydra.sweeper.pruner={name!r} is not a known pruner; use one of {', '.join(PRUNERS)}.")
    return name


def make_pruner(spec: Any, directions: Sequence[str]) -> optuna.pruners.BasePruner | None:
    """Optuna's pruner for ``spec`` with its settings, or None for ``none``. A setting the pruner
    does not take, or a value it refuses, is one sentence naming ``hydra.sweeper.pruner``."""
    import optuna
    from omegaconf import DictConfig, OmegaConf

    from imbexp import components

    name = pruner_name(spec)
    if name == "none":
        return None
    if len(directions) > 1:
        raise ConfigError(f"hydra.sweeper.pruner={name} prunes on one objective, and this sweep has "
                          f"{len(directions)}; Optuna cannot prune a multi-objective study: use pruner: none.")
    if isinstance(spec, DictConfig):
        spec = OmegaConf.to_container(spec, resolve=True)
    # a null field takes Optuna's own default, as for the samplers
    settings = {k: v for k, v in (spec.items() if isinstance(spec, Mapping) else ())
                if k not in ("_target_", "name") and v is not None}
    cls = getattr(optuna.pruners, PRUNERS[name])
    with _no_experimental_warning():
        pruner = components.build({"_target_": name, **settings}, "hydra.sweeper.pruner", target=cls)
    if name == "hyperband":
        # Hyperband builds its successive-halving brackets at the first report, so a bad setting
        # would fail every trial; its brackets take the same checks now
        try:
            optuna.pruners.SuccessiveHalvingPruner(min_resource=pruner._min_resource,
                                                   reduction_factor=pruner._reduction_factor,
                                                   bootstrap_count=pruner._bootstrap_count)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"hydra.sweeper.pruner cannot be built from 'hyperband': {exc}.") from None
    return pruner


@contextlib.contextmanager
def _no_experimental_warning() -> Iterator[None]:
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # WilcoxonPruner's
        yield


#: Hydra's launcher that runs a job in the process that launches it
IN_PROCESS_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def nothing_to_prune(name: str, config: Any) -> str | None:
    """Why a pruner has nothing to stop in this sweep, or None: under holdout a trial has one fold
    (one step), and a launcher that runs the job in another process (joblib, Ray) takes it away
    from the trial it would report to."""
    if name == "none":
        return None
    split = config.get("split") or {}
    repeats = int(config.get("repeats", 1) or 1)
    if split.get("kind") == "holdout" and repeats <= 1:
        return (f"hydra.sweeper.pruner={name} has nothing to prune under split=holdout (one fold, so one "
                "step per trial): every trial runs to its end; use split=cv (or repeats=k) to prune")
    launcher = str(((config.get("hydra") or {}).get("launcher") or {}).get("_target_") or IN_PROCESS_LAUNCHER)
    if launcher != IN_PROCESS_LAUNCHER:
        return (f"hydra.sweeper.pruner={name} needs the trials run in the sweep's own processes, and "
                f"hydra.launcher {launcher.rsplit('.', 1)[-1]} runs them elsewhere: every trial runs to its end; "
                "use hydra.sweeper.n_jobs=k for parallel trials that can be pruned")
    return None


def with_constraints(name: str) -> str:
    """The warning for a pruner in a sweep with constraints: Optuna's pruners know nothing of
    them and compare with every COMPLETE trial, so the sweep runs as asked and says so."""
    return (f"warning: hydra.sweeper.pruner={name} compares each trial with all complete trials, the infeasible "
            "ones under hydra.sweeper.constraints included: a feasible trial can be pruned for being worse than "
            "an infeasible one")


@dataclasses.dataclass
class Reports:
    """What the current trial reported, and where it was pruned."""

    trial: optuna.Trial
    pruner: str
    metric: str  # the fold metric the objective averages, e.g. pr_auc
    step: int = 0  # the next step (a fold, counted on across repeats' seed runs)
    values: list[float] = dataclasses.field(default_factory=list)
    pruned_runs: list[str] = dataclasses.field(default_factory=list)  # the MLflow runs cut short
    message: str | None = None


_current: Reports | None = None


@contextlib.contextmanager
def reporting(trial: optuna.Trial, pruner: str, metric: str) -> Iterator[Reports | None]:
    """Make ``trial`` the one :func:`report_fold` reports to while its job runs in this process;
    ``pruner`` is the sweep's pruner name (``none``: nothing is reported)."""
    global _current
    if pruner == "none":
        yield None
        return
    _current = Reports(trial, pruner, metric)
    try:
        yield _current
    finally:
        _current = None


def reports_folds() -> bool:
    """Whether a pruner hears of each fold of the run in this process (a sweep's trial)."""
    return _current is not None


def report_fold(fold_metrics: Mapping[str, float], run_folds: Sequence[Mapping[str, float]],
                seconds: Mapping[str, float] | None = None) -> None:
    """Report a finished fold to the current trial; raise :class:`optuna.TrialPruned` when the
    pruner stops it. ``fold_metrics`` is the fold's valid metrics by name, ``run_folds`` every
    fold of this run so far (this one last) and ``seconds`` the run's stage times so far
    (``fit_seconds``, ``seconds_predict``, ...): both are kept in the run's MLflow record when it is pruned.
    Outside a sweep with a pruner this does nothing."""
    reports = _current
    if reports is None or reports.metric not in fold_metrics:
        return
    value = float(fold_metrics[reports.metric])
    reports.values.append(value)
    step = reports.step
    reports.step += 1
    # the running mean leaves out a fold without a finite value (one class in valid): with np.mean
    # one NaN fold made every later running mean NaN, and the trial reported nothing more (no
    # finite fold yet: the NaN is skipped below, without nanmean's empty-slice warning)
    finite = np.isfinite(reports.values).any()
    reported = value if reports.pruner == PER_FOLD else float(np.nanmean(reports.values)) if finite else value
    if not np.isfinite(reported):
        return  # a fold without a finite value (one class in valid) says nothing about the trial
    import optuna

    reports.trial.report(reported, step)
    with _no_experimental_warning():
        if not reports.trial.should_prune():
            return
    what = "fold" if reports.pruner == PER_FOLD else "running mean"
    reports.message = (f"pruned by hydra.sweeper.pruner={reports.pruner} after {len(reports.values)} fold(s): "
                       f"valid_{reports.metric} {reported:.4f} ({what})")
    _keep_folds_done(reports, run_folds, seconds or {})
    raise optuna.TrialPruned(reports.message)


def _keep_folds_done(reports: Reports, run_folds: Sequence[Mapping[str, float]],
                     seconds: Mapping[str, float]) -> None:
    """Log the folds this run finished (their means, as the run logs a complete CV) and its stage
    times so far to the open MLflow run, which is then ended as pruned; its test metrics never
    exist."""
    import mlflow

    active = mlflow.active_run()
    if active is None:
        return
    means = {f"valid_{name}": float(np.mean([fold[name] for fold in run_folds])) for name in run_folds[0]}
    try:
        mlflow.log_metrics({**{k: v for k, v in means.items() if np.isfinite(v)}, **seconds,
                            "cv_folds_done": len(run_folds)})
        mlflow.set_tags({names.PRUNED_TAG: "true", names.STOP_REASON_TAG: reports.message or "pruned"})
    except Exception as exc:  # the trial is pruned all the same; its record is a bonus
        log.warning("the pruned run's folds were not logged: %s", exc)
    reports.pruned_runs.append(active.info.run_id)


def tell_pruned(study: optuna.Study, trial: optuna.Trial, run_id: str, reports: Reports | None) -> None:
    """Record a pruned trial: PRUNED in the study (its reported values kept), its MLflow run (and
    the seed run that was cut, under ``repeats``) KILLED with the pruned tag.

    KILLED, not FINISHED or FAILED: the run was stopped from outside before it finished, as by a
    signal, which is what KILLED means everywhere in imbexp; FINISHED would let the report and the
    paired comparisons take a run without test metrics for a finished one, and FAILED would say
    the configuration is broken. The tag tells a pruned run from a stopped sweep's."""
    from mlflow.entities import RunTag
    from mlflow.tracking import MlflowClient
    from optuna.trial import TrialState

    from imbexp.sweeping import _mlflow

    message = reports.message if reports is not None and reports.message else "pruned"
    trial.set_user_attr(names.TRIAL_PRUNED_ATTR, reports.step - 1 if reports is not None else 0)
    study.tell(trial, state=TrialState.PRUNED)
    client = MlflowClient()
    for run in dict.fromkeys([run_id, *(reports.pruned_runs if reports is not None else [])]):
        with contextlib.suppress(Exception):  # the status below matters more than the tags
            client.log_batch(run, tags=[RunTag(names.PRUNED_TAG, "true"), RunTag(names.STOP_REASON_TAG, message)])
        _mlflow.end_child(run, "KILLED")


def pruned_count(trials: Sequence[FrozenTrial]) -> int:
    """Trials the pruner stopped (a grid's duplicate point, also told PRUNED, is not one)."""
    from optuna.trial import TrialState

    return sum(t.state == TrialState.PRUNED and names.TRIAL_PRUNED_ATTR in t.user_attrs for t in trials)


def pruned_note(trials: Sequence[FrozenTrial]) -> str:
    """``", 3 pruned"`` for a progress line or a table's title, or nothing."""
    count = pruned_count(trials)
    return f", {count} pruned" if count else ""


def use_pruner(study: optuna.Study, pruner: optuna.pruners.BasePruner | None, spec: Any, config: Any,
               say: bool) -> str:
    """Give the study its pruner; the name the trials report under (``none`` when there is no
    pruner, or nothing to prune: then ``say`` prints why, once for the sweep, not per trial)."""
    import optuna

    name = pruner_name(spec)
    reason = nothing_to_prune(name, config)
    if reason is not None and say:
        print(f"[sweep] {reason}", flush=True)
    study.pruner = pruner if pruner is not None and reason is None else optuna.pruners.NopPruner()
    return "none" if pruner is None or reason is not None else name
