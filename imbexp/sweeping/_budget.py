"""When a sweep stops short of ``n_trials``: ``timeout`` and ``target``; and the study that is
finished already, which a re-run only reports on."""

from __future__ import annotations

import time

import optuna
from optuna.trial import TrialState

from imbexp import names
from imbexp.errors import ConfigError


def check_target(target: float | None, directions: list[str]) -> None:
    """A target is one value, so it needs a single objective."""
    if target is not None and len(directions) > 1:
        raise ConfigError(f"hydra.sweeper.target={target!r} is not allowed for {len(directions)} objectives; a "
                          "target needs a single objective.metric (use hydra.sweeper.timeout to bound this sweep).")


def target_reached(study: optuna.Study, target: float | None) -> float | None:
    """The best feasible value if it reaches ``target`` (>= when maximising, <= when minimising)."""
    if target is None or len(study.directions) > 1:
        return None
    try:
        best = study.best_trial.value  # Optuna's best is the best feasible trial
    except ValueError:  # no (feasible) trial completed yet
        return None
    maximise = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return best if (best >= target if maximise else best <= target) else None


def stop_reason(study: optuna.Study, timeout: float | None, target: float | None, started: float) -> str | None:
    """Why the sweep starts no more trials, or None: its time is up or the target is reached."""
    if timeout is not None and time.monotonic() - started >= timeout:
        return (f"hydra.sweeper.timeout={timeout:g} s reached after {time.monotonic() - started:.0f} s: no more "
                "trials started")
    best = target_reached(study, target)
    if best is not None:
        return f"hydra.sweeper.target={target:g} reached (best {best:.4f}): no more trials started"
    return None


def finished_message(study: optuna.Study, done: int, n_trials: int, target: float | None,
                     pruned: int = 0) -> str | None:
    """What a re-run of a finished sweep says instead of running (and rewriting an unchanged
    summary and report): the study holds its trials, and its parent run was closed FINISHED.
    ``done`` counts the ``pruned`` trials too, and the message says so when there are any."""
    best = target_reached(study, target)
    if done < n_trials and best is None:
        return None
    parent = study.user_attrs.get(names.STUDY_PARENT_RUN_ATTR)
    if not parent or study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        return None
    try:
        from mlflow.tracking import MlflowClient

        if MlflowClient().get_run(str(parent)).info.status != "FINISHED":
            return None  # an interrupted end: its summary is written again
    except Exception:  # a parent run deleted or unreadable: the normal end writes a new one
        return None
    why = (f"it reached hydra.sweeper.target={target:g} (best {best:.4f})" if best is not None
           else f"{done} of {n_trials} trials are complete{' or pruned' if pruned else ''}")
    more = max(n_trials, done) + max(10, n_trials // 2)
    return (f"[sweep] study {study.study_name} is finished: {why}; nothing to run. For more trials give the "
            f"study's new total, e.g. hydra.sweeper.n_trials={more}"
            + (" (and a higher hydra.sweeper.target, or none)" if best is not None else ""))
