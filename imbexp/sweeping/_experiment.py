"""The sweep loop's steps that make a study one experiment (mixed into
:class:`~imbexp.sweeping._impl.OptunaSweep`): constraints recorded on each trial, a configuration
drawn again answered from the store, one progress line per trial from the process that ran it,
and a finished study reported on instead of run again.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial

from imbexp import names
from imbexp.sweeping import _budget, _study, _summary, _warmstart
from imbexp.sweeping._constraints import describe_violations, is_feasible, violations

if TYPE_CHECKING:
    from imbexp.sweeping._plan import SweepPlan

log = logging.getLogger("imbexp")

#: loggers whose INFO lines a trial writes (Hydra's "Launching 1 jobs locally" and overrides,
#: imbexp's per-fold lines); a quiet sweep keeps their warnings only
TRIAL_LOGGERS = ("hydra._internal.core_plugins.basic_launcher", "imbexp")


def mark_quiet(verbose: bool) -> None:
    """Tell the runs whether to print their summary: :data:`~imbexp.names.QUIET_TRIALS_ENV` is
    read by the run, in this process, in the sweep's workers and (forwarded by
    :func:`~imbexp.sweeping._launchers.prepare_ray`) in Ray tasks."""
    if verbose is True:  # a bad value is refused in the plan; until then it is the default, quiet
        os.environ.pop(names.QUIET_TRIALS_ENV, None)
    else:
        os.environ[names.QUIET_TRIALS_ENV] = "1"


def quiet_trials(launch: Callable[[list[str], int], Any], verbose: bool) -> Callable[[list[str], int], Any]:
    """The launch as a quiet sweep runs it: the trial's printed summary (about 20 lines) and
    INFO logs are left out, so the sweep prints one line per trial (a 20-trial sweep printed 412
    lines); ``verbose`` keeps them."""
    mark_quiet(verbose)
    if verbose:
        return launch

    @functools.wraps(launch)
    def quiet(overrides: list[str], job_index: int) -> Any:
        loggers = [logging.getLogger(name) for name in TRIAL_LOGGERS]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            return launch(overrides, job_index)
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)

    return quiet


#: the per-run progress lines of the sweep's end (comparisons, report), kept by a verbose sweep
#: only: a 20-trial sweep printed 20 "[compare] k of n" lines and 7 "imbexp report:" lines
_END_PROGRESS = re.compile(r"^(\[compare\] \d+ of \d+: |imbexp report: )")


class _Filtered(io.TextIOBase):
    """A stream that passes each complete line on as it comes (scripts and tests read a sweep's
    output live) unless it is a per-run progress line."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.pending = stream, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if not _END_PROGRESS.match(line):
                self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def close_line(self) -> None:
        if self.pending and not _END_PROGRESS.match(self.pending):
            self.stream.write(self.pending)
        self.pending = ""
        self.stream.flush()


@contextlib.contextmanager
def quiet_progress(verbose: bool) -> Iterator[None]:
    """Leave the comparisons' and the report's per-run progress lines out of a quiet sweep's
    output; what they conclude (and every warning) is printed as it comes."""
    if verbose:
        yield
        return
    out, err = _Filtered(sys.stdout), _Filtered(sys.stderr)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield
    finally:
        out.close_line()
        err.close_line()


class ExperimentSteps:
    """Steps of :class:`~imbexp.sweeping._impl.OptunaSweep` (which holds ``plan``, ``host``,
    ``session``, ``started`` and ``parent_id``)."""

    plan: SweepPlan
    host: str
    session: str
    started: float
    parent_id: str
    _current: tuple[optuna.Trial, str | None] | None

    def _ran_here(self, trial: FrozenTrial) -> bool:
        return trial.user_attrs.get(names.TRIAL_WORKER_ATTR) == f"{self.host}:{os.getpid()}"

    def _print_progress(self, trial: optuna.Trial) -> None:
        """The trial's progress line, printed by the process that ran it as soon as it is told (a
        thread polling the study printed it a trial late)."""
        import time

        frozen = self.plan.study._storage.get_trial(trial._trial_id)
        print(_summary.progress_line(self.plan.study, frozen, self.plan.n_trials, time.monotonic() - self.started,
                                     self.plan.objective.keys), flush=True)

    def _record_constraints(self, trial: optuna.Trial, run_id: str) -> None:
        """Record each constraint's violation on the trial (before it is told: a finished trial
        takes no more) and mark its MLflow run feasible or not."""
        if not self.plan.constraints:
            return
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        metrics = client.get_run(run_id).data.metrics
        try:
            found = violations(self.plan.constraints, metrics)
        except KeyError as exc:  # a metric the run did not log: infeasible, and said so
            log.warning("[sweep] trial %d: %s; it counts as infeasible", trial.number, exc)
            found = {c.text: math.inf for c in self.plan.constraints}
        for constraint in self.plan.constraints:
            value = metrics.get(constraint.metric)
            if value is not None and not math.isfinite(value):
                log.warning("[sweep] trial %d: %s is %s; %r counts as broken", trial.number, constraint.metric,
                            value, constraint.text)
        for key, value in found.items():
            trial.set_constraint(key, value)
        feasible = is_feasible(found)
        client.set_tag(run_id, names.FEASIBLE_TAG, str(feasible).lower())
        if not feasible:
            client.set_tag(run_id, names.VIOLATED_TAG, describe_violations(found))

    def _answer_from_store(self, trial: optuna.Trial) -> bool:
        """Whether ``trial`` drew the configuration of a COMPLETE (or pruned) trial and was told
        its stored value (or PRUNED) instead of running again."""
        try:
            self.plan.space.suggest(trial)
            if self.plan.custom is not None:
                self.plan.custom(self.plan.config, trial)
        except Exception:  # the trial runs and fails with the reason
            return False
        original = _warmstart.stored_duplicate(self.plan.study, trial)
        if original is None:
            return False
        trial.set_user_attr(names.TRIAL_SESSION_ATTR, self.session)
        trial.set_user_attr(names.TRIAL_WORKER_ATTR, f"{self.host}:{os.getpid()}")
        trial.set_user_attr(names.TRIAL_PARENT_RUN_ATTR, self.parent_id)
        _warmstart.tell_stored(self.plan.study, trial, original)
        self._current = None  # told: a stop from here on must not touch it
        self._print_progress(trial)
        return True

    def _report_finished_study(self) -> bool:
        """A re-run of a finished sweep: say so, show the table, and write nothing."""
        trials = self.plan.study.get_trials(deepcopy=False)
        counts = _study.counts(trials)  # pruned trials count towards n_trials, as in the loop
        done = self._grid_points_done(trials) if self.plan.is_grid else counts.complete + counts.pruned
        message = _budget.finished_message(self.plan.study, done, self.plan.n_trials, self.plan.settings.target,
                                           pruned=counts.pruned)
        if message is None:
            return False
        from imbexp import tracking

        print(message, flush=True)
        print(_summary.final_table(self.plan.study, self.plan.objective.keys), flush=True)
        parent = self.plan.study.user_attrs.get(names.STUDY_PARENT_RUN_ATTR)
        print(f"[sweep] MLflow parent run {parent} · {tracking.ui_hint(str(self.plan.config.tracking.uri))}",
              flush=True)
        print(f"[sweep] watch the study: optuna-dashboard {self.plan.storage_label}", flush=True)
        return True
