"""What a sweep shows: progress lines, the final table, and the parent run's artifacts."""

from __future__ import annotations

import json
import logging
import math
import signal
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from imbexp import lifecycle, names
from imbexp.config import Objective
from imbexp.plots import LABELLED_LEFT, fixed_margins
from imbexp.sweeping._constraints import describe_violations, is_feasible
from imbexp.sweeping._mlflow import child_metrics
from imbexp.sweeping._pruning import pruned_count, pruned_note

log = logging.getLogger("imbexp")


def best_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The best trial, or the Pareto front of a multi-objective study. A configuration answered
    from the store (:data:`~imbexp.names.TRIAL_DUPLICATE_ATTR`) is its original, which has the
    MLflow run: a copy is left off the front, and a best that is a copy is its original."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return []
    try:  # under hydra.sweeper.constraints Optuna's best is the best feasible trial
        if len(study.directions) > 1:
            return [t for t in study.best_trials if names.TRIAL_DUPLICATE_ATTR not in t.user_attrs]
        best = study.best_trial
    except ValueError:  # no feasible trial yet
        return []
    original = best.user_attrs.get(names.TRIAL_DUPLICATE_ATTR)
    if original is None:
        return [best]
    storage = study._storage
    return [storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study._study_id, int(original)))]


def _values(trial: FrozenTrial) -> str:
    return ", ".join(f"{v:.4f}" for v in trial.values or [])


def progress_line(study: optuna.Study, trial: FrozenTrial, n_trials: int, elapsed: float,
                  keys: tuple[str, ...]) -> str:
    trials = study.get_trials(deepcopy=False)
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    failed = sum(t.state == TrialState.FAIL for t in trials)
    if trial.state == TrialState.COMPLETE:
        outcome = ", ".join(f"{k}={v:.4f}" for k, v in zip(keys, trial.values, strict=False))
        if not is_feasible(trial):
            outcome += f" (infeasible: {describe_violations(trial)})"
        if names.TRIAL_DUPLICATE_ATTR in trial.user_attrs:
            original = trial.user_attrs[names.TRIAL_DUPLICATE_ATTR]
            outcome += f" (same configuration as trial {original}: its stored value, not run again)"
    else:
        outcome = trial.state.name
        if trial.state == TrialState.PRUNED and names.TRIAL_DUPLICATE_ATTR in trial.user_attrs:
            original = trial.user_attrs[names.TRIAL_DUPLICATE_ATTR]
            outcome += f" (same configuration as trial {original}, pruned there: not run again)"
    best = best_trials(study)
    if len(study.directions) > 1:
        best_text = f"Pareto front: {len(best)} trial(s)"
    elif best:
        best_text = f"best {best[0].value:.4f} (trial {best[0].number})"
    elif any(t.constraints for t in trials):
        best_text = "no feasible trial yet"
    else:
        best_text = "no best yet"
    minutes, seconds = divmod(int(elapsed), 60)
    return (f"[sweep] trial {trial.number}: {outcome} · {min(complete, n_trials)} of {n_trials} complete"
            f"{pruned_note(trials)}{f', {failed} failed' if failed else ''} · {best_text} · "
            f"{minutes}:{seconds:02d} elapsed")


def final_table(study: optuna.Study, keys: tuple[str, ...], top: int = 5) -> str:
    """The best trials (or the Pareto front) with their params and MLflow run ids."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not trials:
        return f"study {study.study_name}: no complete trials"
    constrained = any(t.constraints for t in trials)
    ran = [t for t in trials if names.TRIAL_DUPLICATE_ATTR not in t.user_attrs]  # a repeat shows once
    if len(study.directions) == 1:
        sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
        # the feasible trials first: the best is the best feasible one
        chosen = sorted(ran, key=lambda t: (not is_feasible(t), sign * t.value))[:top]
        title = f"best {len(chosen)} of {len(trials)} complete trials{pruned_note(study.get_trials(deepcopy=False))}"
        if constrained:
            title += f" ({sum(map(is_feasible, trials))} feasible)"
    else:
        chosen = sorted(best_trials(study), key=lambda t: t.number)
        title = f"Pareto front: {len(chosen)} of {len(trials)} complete trials"
    searched = sorted({name for t in chosen for name in t.params})
    header = ["trial", *keys, *(["feasible"] if constrained else []), *searched, "MLflow run"]
    rows = [[str(t.number), *(f"{v:.4f}" for v in t.values),
             *([("yes" if is_feasible(t) else "no")] if constrained else []),
             *(_short(t.params.get(n)) for n in searched), str(t.user_attrs.get(names.TRIAL_RUN_ATTR, ""))]
            for t in chosen]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [f"study {study.study_name} · {title}",
             "  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def trials_frame(study: optuna.Study, keys: tuple[str, ...], metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Every trial: number, state, objective values, params, MLflow run id and status, valid ECE."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        run_id = trial.user_attrs.get(names.TRIAL_RUN_ATTR)
        run = metrics.get(str(run_id), {}) if run_id else {}
        row: dict[str, Any] = {"trial": trial.number, "state": trial.state.name}
        for index, key in enumerate(keys):
            row[key] = trial.values[index] if trial.values else math.nan
        row.update({f"params_{k}": v for k, v in trial.params.items()})
        row["valid_ece"] = run.get("valid_ece", math.nan)
        if trial.constraints:
            row["feasible"] = is_feasible(trial)
            row["constraint_violation"] = sum(max(0.0, v) for v in trial.constraints.values())
        row[names.TRIAL_DUPLICATE_ATTR] = trial.user_attrs.get(names.TRIAL_DUPLICATE_ATTR)
        row["datetime_start"] = trial.datetime_start
        row["duration_seconds"] = trial.duration.total_seconds() if trial.duration else math.nan
        row[names.TRIAL_RUN_ATTR] = run_id
        row["mlflow_status"] = run.get("status")
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if column.startswith("params_") and frame[column].map(type).nunique() > 1:
            frame[column] = frame[column].astype(str)  # categoricals mixing types, for Parquet
    return frame


def log_to_parent(study: optuna.Study, objective: Objective, directions: list[str], parent_id: str,
                  experiment_id: str) -> None:
    """Best value(s) and params as metrics and tags, the trials table and the sweep's plots."""
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    keys = objective.keys
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    metrics: dict[str, float] = {"trials_complete": len(complete), "trials_failed": len(failed),
                                 "trials_pruned": pruned_count(study.get_trials(deepcopy=False))}
    if any(t.constraints for t in complete):
        metrics["trials_infeasible"] = sum(not is_feasible(t) for t in complete)
    tags: dict[str, str] = {}
    best = best_trials(study)
    summary: dict[str, Any] = {"study_name": study.study_name, "directions": directions, "objective": list(keys)}
    if len(directions) == 1 and best:
        trial = best[0]
        metrics.update({f"best_{keys[0]}": trial.value, "best_value": trial.value})
        tags.update({names.BEST_TRIAL_TAG: str(trial.number),
                     names.BEST_RUN_TAG: str(trial.user_attrs.get(names.TRIAL_RUN_ATTR, ""))})
        tags.update({f"{names.BEST_PARAM_TAG_PREFIX}{name}": str(value) for name, value in trial.params.items()})
        summary["best"] = {"trial": trial.number, "value": trial.value, "params": trial.params,
                           names.TRIAL_RUN_ATTR: trial.user_attrs.get(names.TRIAL_RUN_ATTR)}
    elif best:
        metrics["pareto_front_size"] = len(best)
        summary["pareto_front"] = [{"trial": t.number, "values": dict(zip(keys, t.values, strict=True)),
                                    "params": t.params, names.TRIAL_RUN_ATTR: t.user_attrs.get(names.TRIAL_RUN_ATTR)}
                                   for t in best]
    now = int(time.time() * 1000)
    # one write rather than one per value: each costs a database transaction
    client.log_batch(parent_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                     tags=[RunTag(k, v) for k, v in tags.items()])

    frame = trials_frame(study, keys, child_metrics(parent_id, experiment_id))
    with tempfile.TemporaryDirectory(prefix="imbexp-sweep-") as tmp:
        out = Path(tmp)
        frame.to_csv(out / "trials.csv", index=False)
        try:
            frame.to_parquet(out / "trials.parquet", index=False)
        except Exception as exc:  # an odd param type must not cost the CSV and plots
            log.warning("trials.parquet not written: %s", exc)
        (out / "best.json").write_text(json.dumps(summary, indent=2, default=str))
        if "pareto_front" in summary:
            pd.DataFrame([{"trial": p["trial"], **p["values"], **{f"params_{k}": v for k, v in p["params"].items()},
                           names.TRIAL_RUN_ATTR: p[names.TRIAL_RUN_ATTR]} for p in summary["pareto_front"]]
                         ).to_csv(out / "pareto_front.csv", index=False)
        (out / "plots").mkdir()
        _plots(study, frame, keys, out / "plots")
        client.log_artifacts(parent_id, str(out))


def _plots(study: optuna.Study, frame: pd.DataFrame, keys: tuple[str, ...], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    complete = frame[frame["state"] == "COMPLETE"]
    if complete.empty:
        return
    # Optuna's plots switch pyplot to its ggplot style for good; the context keeps the style to
    # these plots, so the report drawn next looks as it does when run on its own.
    with matplotlib.rc_context():
        _optuna_plots(study, keys, len(complete), out)
        _factor_plots(complete, keys, out)


def _optuna_plots(study: optuna.Study, keys: tuple[str, ...], n_complete: int, out: Path) -> None:
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    def save(name: str, draw) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = draw()
            figure = result.figure if hasattr(result, "figure") else plt.gcf()
            # laid out in the draw savefig makes to measure it; tight_layout() would measure once more
            figure.set_layout_engine("tight")
            figure.savefig(out / name, dpi=110)
        except Exception as exc:  # a plot Optuna cannot draw for this study is skipped, not fatal
            log.info("sweep plot %s skipped: %s", name, exc)
        finally:
            plt.close("all")

    if len(keys) > 1:
        save("pareto_front.png", lambda: ovm.plot_pareto_front(study, target_names=list(keys)))
        for index, key in enumerate(keys):
            save(f"optimization_history_{key}.png", lambda i=index, k=key: ovm.plot_optimization_history(
                study, target=lambda t: t.values[i], target_name=k))
            if n_complete >= 2:
                save(f"param_importances_{key}.png", lambda i=index, k=key: ovm.plot_param_importances(
                    study, target=lambda t: t.values[i], target_name=k))
    else:
        save("optimization_history.png", lambda: ovm.plot_optimization_history(study, target_name=keys[0]))
        if n_complete >= 2:
            save("param_importances.png", lambda: ovm.plot_param_importances(study))


def _factor_plots(complete: pd.DataFrame, keys: tuple[str, ...], out: Path) -> None:
    """The objective and valid ECE against each searched factor: the calibration question of a
    downsample/upweight sweep at a glance."""
    from matplotlib.figure import Figure

    columns = [k for k in keys] + (["valid_ece"] if "valid_ece" not in keys else [])
    for param in [c for c in complete.columns if c.startswith("params_")]:
        name = param.removeprefix("params_")
        rows = complete[complete[param].notna()]
        if rows.empty:
            continue
        figure = Figure(figsize=(4.2 * len(columns), 3.6))
        axes = figure.subplots(1, len(columns), squeeze=False)
        numeric = pd.api.types.is_numeric_dtype(rows[param]) and not pd.api.types.is_bool_dtype(rows[param])
        for axis, column in zip(axes[0], columns, strict=True):
            x = rows[param] if numeric else rows[param].astype(str)
            axis.scatter(x, rows[column], s=22, alpha=0.8)
            axis.set_xlabel(name)
            axis.set_ylabel(column)
            positive = numeric and (rows[param] > 0).all()
            if positive and rows[param].max() / max(rows[param].min(), 1e-12) > 20:
                axis.set_xscale("log")
            axis.grid(alpha=0.3)
        fixed_margins(figure, title=f"{', '.join(columns)} against {name}", left=LABELLED_LEFT, top=0.15)
        figure.savefig(out / f"factor_{name.replace('/', '_')}.png", dpi=110)


class _Stopped(KeyboardInterrupt):
    """Ctrl-C or SIGTERM while comparing; a KeyboardInterrupt with its signal, as a trial's stop
    is, so a baseline run it cuts ends KILLED."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


#: the stop received while comparing, kept: a finalizer swallows what the handler raises in it
#: (see :data:`imbexp.sweeping._impl._pending`), and the later signals are ignored
_received: list[int] = []


#: the sweep's own clean-up after a stop while comparing must not be cut by a second one
_raise_stopped = lifecycle.stop_handler(_received, _Stopped, ignore_further=True)


def compare_with_baselines(uri: str, parent_id: str) -> int | None:
    """The sweep's trials against their baselines (:func:`imbexp.compare.compare_children`) and
    the table of each configuration against its baseline, before the report is drawn. A baseline
    the experiment lacks is run in this process, nested under the sweep's parent run (it is no
    trial of the study).

    Comparing can take seconds a trial: Ctrl-C or SIGTERM stops it (the runs compared so far keep
    their deltas) and the sweep then ends as a stopped one; returns that signal, or None."""
    from imbexp import compare, tracking
    from imbexp.errors import ImbexpError

    main = threading.current_thread() is threading.main_thread()
    _received.clear()
    previous = {number: signal.signal(number, _raise_stopped) for number in (signal.SIGINT, signal.SIGTERM)} \
        if main else {}
    try:
        compare.compare_children(uri, parent_id, run_one=tracking.run_as_sweep_job, what="sweep")
        if _received:  # the stop's exception was swallowed by a finalizer
            raise _Stopped(_received[0])
    except _Stopped as stop:
        print(f"\n[sweep] comparisons stopped by {signal.Signals(stop.signum).name}; the runs compared so far "
              "keep their deltas", flush=True)
        return stop.signum
    except Exception as exc:  # the trials are safe in storage and MLflow; the deltas are a bonus
        log.warning("[sweep] the trials were not compared with their baselines: %s", exc,
                    exc_info=not isinstance(exc, ImbexpError))
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return None
