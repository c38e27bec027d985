"""The Optuna study a sweep shares with its workers: storage, name, directions, counts."""

from __future__ import annotations

import datetime
import json
import os
import random
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.trial import FrozenTrial, TrialState

from imbexp import _paths, names
from imbexp.config import DIRECTIONS, Objective
from imbexp.errors import ConfigError, first_line
from imbexp.sweeping import _pruning
from imbexp.sweeping._space import SearchSpace
from imbexp.tracking import redact

#: seconds SQLite waits for another worker's write lock before giving up
SQLITE_TIMEOUT = 120
#: tries at opening a storage whose tables other workers are creating at the same moment
CREATE_ATTEMPTS = 5


def default_storage() -> str:
    """``sqlite:///<project root>/runs/optuna.db``, an absolute path."""
    return f"sqlite:///{(_paths.runs_dir() / 'optuna.db').as_posix()}"


def open_storage(url: str | None, heartbeat_interval: int | None = None,
                 stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None
                 ) -> optuna.storages.RDBStorage:
    """Open (and create) Optuna's relational storage; a URL that does not open is a ConfigError
    that shows the URL without its password."""
    url = url or default_storage()
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        engine_kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT}
    elif "://" in url:
        engine_kwargs["pool_pre_ping"] = True
    try:
        db = _paths.sqlite_file(url)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(CREATE_ATTEMPTS):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
                        heartbeat_stale_trial_callback=stale_trial_callback if heartbeat_interval else None)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
                # workers started together on an empty database all create Optuna's tables; the
                # losers of that race find them made on the next attempt
                if attempt == CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 + random.random())
        raise AssertionError("unreachable")
    except Exception as exc:  # SQLAlchemy and drivers raise many kinds; the user needs one sentence
        reason = redact(first_line(exc))[:300]
        raise ConfigError(f"hydra.sweeper.storage={redact(url)!r} cannot be opened ({reason}); use "
                          "sqlite:///path/to/optuna.db or postgresql+psycopg2://user:password@host/db.") from None


def default_study_name(choices: dict[str, Any], dataset_name: str | None, searched: Sequence[str]) -> str:
    """``<dataset>-<strategy>-<model>-<sweep preset>``; a group that is searched reads ``any``."""
    parts = [dataset_name or choices.get("dataset") or "dataset"]
    for group in ("strategy", "model"):
        parts.append("any" if group in searched else str(choices.get(group) or group))
    parts.append(str(choices.get("sweep") or "custom"))
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", "-".join(str(p) for p in parts))


def resolve_directions(direction: Any, objective: Objective) -> list[str]:
    """The sweeper's ``direction``, or the objective's directions when it is not set."""
    if direction is None or direction == "auto":
        return list(objective.directions)
    given = [direction] if isinstance(direction, str) else [str(d) for d in direction]
    given = [d.lower() for d in given]
    for item in given:
        if item not in DIRECTIONS:
            raise ConfigError(f"hydra.sweeper.direction={item!r} is not allowed; use maximize or minimize "
                              "(a list of them for several objectives), or leave it null.")
    if len(given) != len(objective.metrics):
        raise ConfigError(f"hydra.sweeper.direction={given} has {len(given)} entries but objective.metric "
                          f"names {len(objective.metrics)} ({', '.join(objective.metrics)}); give one direction "
                          "per metric or leave direction null.")
    return given


def load_study(storage: optuna.storages.BaseStorage, study_name: str, directions: list[str],
               sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    """Create the study, or continue it when it exists with the same directions."""
    try:
        study = optuna.create_study(storage=storage, study_name=study_name, sampler=sampler,
                                    directions=directions, load_if_exists=True)
    except Exception as exc:
        raise ConfigError(f"hydra.sweeper.study_name={study_name!r} cannot be created or loaded "
                          f"({redact(first_line(exc))}).") from None
    existing = [d.name.lower() for d in study.directions]
    if existing != directions:
        raise ConfigError(f"hydra.sweeper.study_name={study_name!r} exists with direction {existing}, not "
                          f"{directions}; pick another study_name or the same objective.")
    return study


def check_space_conflicts(study: optuna.Study, space: SearchSpace) -> None:
    """A continued study must search each parameter over the same range it used before."""
    wanted = {p.name: p for p in space.params}
    for trial in study.get_trials(deepcopy=False):
        for name, distribution in trial.distributions.items():
            param = wanted.get(name)
            if param is not None and param.distribution != distribution:
                raise ConfigError(
                    f"hydra.sweeper.params.{name}={param.expression!r} conflicts with study "
                    f"{study.study_name!r}, whose trial {trial.number} searched {name} as {distribution}; "
                    "keep the range or pick a new hydra.sweeper.study_name.")


@dataclass(frozen=True)
class Counts:
    complete: int
    running: int
    waiting: int
    failed: int
    pruned: int = 0  # stopped by hydra.sweeper.pruner (done, as COMPLETE ones are)


def counts(trials: Sequence[FrozenTrial]) -> Counts:
    states = [t.state for t in trials]
    return Counts(states.count(TrialState.COMPLETE), states.count(TrialState.RUNNING),
                  states.count(TrialState.WAITING), states.count(TrialState.FAIL), _pruning.pruned_count(trials))


def admitted(study: optuna.Study, trial_number: int, n_trials: int) -> bool:
    """Whether a freshly asked trial fits in ``n_trials``.

    Workers ask concurrently, so a study can briefly hold more COMPLETE + RUNNING trials than
    the target. Ranking them by trial number gives every worker the same answer: the trials
    ranked past ``n_trials`` go back to the queue (WAITING) instead of running.
    """
    active = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
    numbers = sorted(t.number for t in active)
    return trial_number in numbers and numbers.index(trial_number) < n_trials


def requeue(study: optuna.Study, trial_id: int) -> None:
    """Put an asked trial back in the queue; the next ``study.ask()`` anywhere pops it."""
    study._storage.set_trial_state_values(trial_id, TrialState.WAITING)


def duplicate_grid_point(study: optuna.Study, trial: optuna.Trial, wait: float = 5.0) -> bool:
    """Whether a freshly asked grid trial's point is taken by another trial: one that completed,
    one the pruner stopped, one whose job failed (a grid point is run once), or a running one with
    a lower number (two workers drew the point at the same moment; the earlier trial keeps it).

    A lower-numbered running trial whose point is not recorded yet (it is between its creation
    and the grid sampler's choice) is waited for, so that both workers see both points.
    """
    storage = study._storage
    deadline = time.monotonic() + wait
    while True:
        trials = storage.get_all_trials(study._study_id, deepcopy=False)
        mine = next(t for t in trials if t._trial_id == trial._trial_id)
        point = mine.system_attrs.get("grid_id")
        if point is None:
            return False
        pending = False
        for other in trials:
            if other._trial_id == trial._trial_id:
                continue
            if other.state == TrialState.RUNNING and other.number < trial.number and \
                    "grid_id" not in other.system_attrs and "fixed_params" not in other.system_attrs:
                pending = True
            elif other.system_attrs.get("grid_id") == point and (
                    other.state == TrialState.COMPLETE
                    or (other.state == TrialState.PRUNED and names.TRIAL_PRUNED_ATTR in other.user_attrs)
                    or (other.state == TrialState.FAIL and "fail_reason" in other.user_attrs)
                    or (other.state == TrialState.RUNNING and other.number < trial.number)):
                return True
        if not pending or time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host. A zombie (dead, its parent has not
    reaped it yet: a killed worker whose launcher is busy) runs nothing and holds no trial."""
    if os.path.exists("/proc/self/stat"):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
        except (OSError, IndexError):  # unreadable: ask the kernel
            pass
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, under another user
    return True


def _local_pid(trial: FrozenTrial, host: str, worker_attr: str) -> int | None:
    """The pid of the process on ``host`` that runs ``trial`` (its ``host:pid`` attribute)."""
    name, _, pid = str(trial.user_attrs.get(worker_attr, "")).rpartition(":")
    return int(pid) if name == host and pid.isdigit() else None


def neighbours_on_host(trials: Sequence[FrozenTrial], session: str, host: str, worker_attr: str,
                       session_attr: str) -> set[int]:
    """Process ids of other sweep commands running a trial of this study on this host now: the
    RUNNING trials whose worker is ``host:pid`` with a live pid and another sweep session."""
    pids = set()
    for trial in trials:
        if trial.state != TrialState.RUNNING or trial.user_attrs.get(session_attr) == session:
            continue
        pid = _local_pid(trial, host, worker_attr)
        if pid is not None and pid_alive(pid):  # a dead one's trial is failed by dead_on_host
            pids.add(pid)
    return pids


#: seconds a trial runs before its ``host:pid`` is trusted: a retried trial starts with the
#: attributes of the one that died, until the process that took it records its own
DEAD_TRIAL_GRACE_SECONDS = 30


def dead_on_host(trials: Sequence[FrozenTrial], host: str, worker_attr: str) -> list[FrozenTrial]:
    """The RUNNING trials whose process on this host is gone (kill -9, a crash, a leader's
    worker stopped by the kernel): without heartbeats nothing else ever fails them, and a
    resumed sweep would wait for them for ever. Trials of other hosts are left to the heartbeat."""
    now = datetime.datetime.now()  # Optuna stamps datetime_start in local time
    return [t for t in trials if t.state == TrialState.RUNNING and t.datetime_start is not None
            and (now - t.datetime_start).total_seconds() > DEAD_TRIAL_GRACE_SECONDS
            and (pid := _local_pid(t, host, worker_attr)) is not None and not pid_alive(pid)]


def set_user_attr_if(storage: optuna.storages.RDBStorage, study_id: int, key: str, expected: str | None,
                     value: str) -> bool:
    """Set the study's user attribute ``key`` to ``value`` only if it is still ``expected``
    (``None``: unset), in one statement; whether it was set.

    Optuna's ``set_study_user_attr`` reads, then writes: commands started together all see the
    key unset and each overwrite the other, so each would believe its own value. Here the
    database decides: the table's unique (study, key) constraint lets one insert win, and an
    UPDATE ... WHERE value = expected changes a row for one command only.
    """
    from optuna.storages._rdb import models

    session = storage.scoped_session()
    try:
        if expected is None:
            session.add(models.StudyUserAttributeModel(study_id=study_id, key=key, value_json=json.dumps(value)))
            session.commit()
            return True
        changed = (session.query(models.StudyUserAttributeModel)
                   .filter_by(study_id=study_id, key=key, value_json=json.dumps(expected))
                   .update({"value_json": json.dumps(value)}, synchronize_session=False))
        session.commit()
        return changed == 1
    except sqlalchemy.exc.IntegrityError:  # another command's insert came first
        session.rollback()
        return False
    except BaseException:
        session.rollback()
        raise
