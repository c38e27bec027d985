"""The sweep: an ask/tell loop over a shared Optuna study, run by one or many processes.

How ``n_jobs=k`` runs k trials at once: the sweep process starts k-1 worker processes with the
same command line (marked by :data:`WORKER_ENV`). Every process runs the same loop against the
study in storage and launches its trials in-process through Hydra's launcher. Sweeps started
on other machines with the same command join the same way (they find the study by name and the
parent run through the study), so one process, one machine and many machines are one design.

``n_trials`` is the study's total of COMPLETE trials: a fresh study runs n_trials trials, a
resumed or shared study stops at that same total. Failed trials are retried with new trials;
the sweep stops with an error once this run's failures exceed ``max_failure_rate x n_trials``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from imbexp import models, tracking
from imbexp.config import parse_objective
from imbexp.errors import ConfigError, ImbexpError
from imbexp.sweeping import _mlflow, _study, _summary
from imbexp.sweeping._samplers import make_sampler, sampler_name
from imbexp.sweeping._space import SearchSpace, check_keys, parse_search_space

log = logging.getLogger("imbexp")

#: set in a worker process a sweep started: its index (1, 2, ...)
WORKER_ENV = "IMBEXP_SWEEP_WORKER"
#: the parent MLflow run, handed to workers
PARENT_ENV = "IMBEXP_SWEEP_PARENT_RUN_ID"
#: one id per sweep command (shared with its workers): the failures it caused are its own
SESSION_ENV = "IMBEXP_SWEEP_SESSION"
#: the leader's Hydra sweep folder, so a worker's trial folders land beside the leader's
SWEEP_DIR_ENV = "IMBEXP_SWEEP_DIR"
SESSION_ATTR = "imbexp.sweep_session"
#: trial user attribute: the host and process id that ran it
WORKER_ATTR = "imbexp.worker"
#: set with IMBEXP_THREADS when the sweep chose the model threads (not the user)
AUTO_THREADS_ENV = "IMBEXP_THREADS_BY_SWEEP"
POLL_SECONDS = 0.5

Launch = Callable[[list[str], int], Any]


@dataclasses.dataclass
class SweepSettings:
    """``hydra.sweeper.*``: the official Optuna sweeper's keys, plus a few of imbexp's own."""

    sampler: Any = "tpe"
    direction: Any = None
    storage: str | None = None
    study_name: str | None = None
    n_trials: int = 20
    n_jobs: int = 1
    max_failure_rate: float = 0.5
    params: Mapping[str, Any] | None = None
    custom_search_space: str | None = None
    conditional_params: Mapping[str, Any] | None = None
    heartbeat_interval: int | None = 30
    max_retry: int = 3

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> SweepSettings:
        if isinstance(values, DictConfig):
            values = OmegaConf.to_container(values, resolve=True)
        known = {f.name for f in dataclasses.fields(cls)}
        settings = cls(**{k: v for k, v in values.items() if k in known})
        settings.validate()
        return settings

    def validate(self) -> None:
        def whole(key: str, value: Any, low: int) -> None:
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"hydra.sweeper.{key}={value!r} is not allowed; use an integer >= {low}.")

        whole("n_trials", self.n_trials, 1)
        if self.n_jobs != -1:
            whole("n_jobs", self.n_jobs, 1)
        whole("max_retry", self.max_retry, 0)
        if self.heartbeat_interval is not None:
            whole("heartbeat_interval", self.heartbeat_interval, 1)
        rate = self.max_failure_rate
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise ConfigError(f"hydra.sweeper.max_failure_rate={rate!r} is not allowed; use a number from 0 to 1.")

    @property
    def processes(self) -> int:
        return (os.cpu_count() or 1) if self.n_jobs == -1 else self.n_jobs


def _cores_each(processes: int) -> int:
    """Model threads for each of ``processes`` processes sharing this host's cores."""
    return max(1, (os.cpu_count() or 1) // processes)


@contextlib.contextmanager
def _interrupt_after():
    """Hold Ctrl-C until the block is done, then raise it.

    For the steps that create something in storage and then record it here: ``study.ask()``
    writes the new RUNNING trial before it returns, ``create_child`` the MLflow run. Cut in
    between, the clean-up would not know them and they would stay RUNNING.
    """
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


class OptunaSweep:
    """One process's part of a sweep; :meth:`run` does it all.

    ``launch(overrides, job_index)`` runs one job and returns its value (raising the job's
    error); ``compose(overrides)`` returns the config a job with those overrides would get;
    ``is_group(name)`` tells config groups from keys. The Hydra plugin passes Hydra's; tests
    can pass their own.
    """

    def __init__(self, settings: SweepSettings, config: DictConfig, arguments: list[str], launch: Launch,
                 compose: Callable[[list[str]], DictConfig], is_group: Callable[[str], bool],
                 sweep_dir: str | None = None, argv: list[str] | None = None) -> None:
        self.settings = settings
        self.config = config
        self.arguments = list(arguments)
        self.launch = launch
        self.compose = compose
        self.is_group = is_group
        self.sweep_dir = Path(sweep_dir) if sweep_dir else None
        self.argv = argv
        self.worker_index = int(os.environ.get(WORKER_ENV, "0") or 0)
        self.is_worker = WORKER_ENV in os.environ
        self.session = os.environ.get(SESSION_ENV) or uuid.uuid4().hex
        self._workers: list[subprocess.Popen] = []
        self._stop = threading.Event()
        self.failures = 0
        self._current: tuple[optuna.Trial, str | None] | None = None
        self.too_many_failures = False

    # -- set-up -------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Everything that can fail on the user's config, before any trial runs."""
        settings = self.settings
        self.space: SearchSpace = parse_search_space(settings.params, self.arguments, settings.conditional_params)
        # the objective every trial will get, fixed params (e.g. objective.metric) applied
        job_config = self.compose([f"{k}={v}" for k, v in self.space.fixed.items()]) if self.space.fixed \
            else self.config
        self.objective = parse_objective(job_config)
        self.directions = _study.resolve_directions(settings.direction, self.objective)
        self.custom = None
        if settings.custom_search_space:
            from hydra.utils import get_method

            try:
                self.custom = get_method(settings.custom_search_space)
            except Exception as exc:
                raise ConfigError(f"hydra.sweeper.custom_search_space={settings.custom_search_space!r} cannot "
                                  f"be imported ({exc}); give a module.function(cfg, trial).") from None
        if not self.space.params and self.custom is None:
            raise ConfigError("hydra.sweeper.params is empty; list at least one key to search, e.g. "
                              "strategy.downsample_factor: tag(log, interval(1, 100)).")
        check_keys(self.space, self.compose, self.is_group)

        self.n_trials = settings.n_trials
        self.is_grid = sampler_name(settings.sampler) == "grid"
        if self.is_grid:
            size = self.space.grid_size()
            if size < self.n_trials:
                log.info("sweep: the grid has %d points; n_trials %d -> %d", size, self.n_trials, size)
                self.n_trials = size

        choices = dict(self.config.hydra.runtime.choices) if "hydra" in self.config else {}
        self.study_name = settings.study_name or _study.default_study_name(
            choices, self.config.dataset.get("name") if "dataset" in self.config else None, self.space.names)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=settings.max_retry)

        def on_dead_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            _mlflow.fail_dead_trial_run(study, trial)
            retry(study, trial)

        self.storage = _study.open_storage(settings.storage, settings.heartbeat_interval, on_dead_trial)
        self.storage_label = tracking.redact(settings.storage or _study.default_storage())
        existing = 0
        try:
            existing = len(self.storage.get_all_trials(self.storage.get_study_id_from_name(self.study_name),
                                                       deepcopy=False))
        except KeyError:
            pass
        sampler = make_sampler(settings.sampler, self.space, len(self.directions),
                               seed_offset=1000 * self.worker_index + existing)
        self.study = _study.load_study(self.storage, self.study_name, self.directions, sampler)
        _study.check_space_conflicts(self.study, self.space)
        self.experiment_id = tracking.connect(str(self.config.tracking.uri), tracking.default_experiment(self.config))

    # -- the sweep ----------------------------------------------------------------------------
    def run(self) -> None:
        self.prepare()
        self.parent_id = _mlflow.find_or_create_parent(
            self.study, self.experiment_id, given=os.environ.get(PARENT_ENV), tags={
                "optuna.storage": self.storage_label,
                "optuna.sampler": sampler_name(self.settings.sampler),
                "optuna.directions": ",".join(self.directions),
                "imbexp.objective": ",".join(self.objective.keys),
            })
        processes = max(1, self.settings.processes)
        # model threads are the sweep's to split unless the user set them (a worker inherits
        # the leader's split, marked as the sweep's own)
        models.threads()  # a bad IMBEXP_THREADS is one sentence before anything runs
        self.splits_threads = "IMBEXP_THREADS" not in os.environ or os.environ.get(AUTO_THREADS_ENV) == "1"
        if "IMBEXP_THREADS" not in os.environ:
            os.environ["IMBEXP_THREADS"] = str(_cores_each(processes))
            os.environ[AUTO_THREADS_ENV] = "1"
        before = _study.counts(self.study.get_trials(deepcopy=False))
        self.complete_at_start = before.complete
        if not self.is_worker:
            print(f"[sweep] study {self.study_name} in {self.storage_label}: {before.complete} of "
                  f"{self.n_trials} trials complete; sampler {sampler_name(self.settings.sampler)}, "
                  f"{processes} parallel trial(s) x {os.environ['IMBEXP_THREADS']} model thread(s); "
                  f"MLflow parent run {self.parent_id}", flush=True)
            self._start_workers(processes - 1)

        self.started = time.monotonic()
        progress = None if self.is_worker else threading.Thread(target=self._report_progress, daemon=True)
        if progress:
            progress.start()
        interrupted = False
        try:
            self._loop()
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            interrupted = True
            self._abandon_current_trial()
            print("\n[sweep] interrupted: stopping; finished trials stay in the study and in MLflow", flush=True)
        finally:
            self._stop.set()
            if progress:
                progress.join(timeout=10)
            self._wait_for_workers(interrupted)
        if self.is_worker:
            if self.too_many_failures:
                raise ImbexpError(self._failure_message())
            return
        self._finish(interrupted)

    def _loop(self) -> None:
        allowed_failures = self.settings.max_failure_rate * self.n_trials
        heartbeat = self.storage.get_heartbeat_interval() is not None
        while True:
            if heartbeat:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(self.study)
            trials = self.study.get_trials(deepcopy=False)
            counts = _study.counts(trials)
            done = self._grid_points_done(trials) if self.is_grid else counts.complete
            if done >= self.n_trials:
                return
            self.failures = sum(t.state == TrialState.FAIL and t.user_attrs.get(SESSION_ATTR) == self.session
                                for t in trials)
            if self.failures > allowed_failures:
                self.too_many_failures = True
                return
            if done + counts.running >= self.n_trials:
                time.sleep(POLL_SECONDS)  # the last trials are running elsewhere; one may still fail
                continue
            with _interrupt_after(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "heartbeat is supposed to be used with optimize"
                trial = self.study.ask()
                self._current = (trial, None)
            # grid points whose job failed are done without being COMPLETE: fewer slots remain
            if not _study.admitted(self.study, trial.number, self.n_trials - (done - counts.complete)):
                _study.requeue(self.study, trial._trial_id)
                time.sleep(POLL_SECONDS * (1 + self.worker_index))
                self._current = None
                continue
            # two workers asking at once can draw the same grid point; the later one drops it
            if self.is_grid and _study.duplicate_grid_point(self.study, trial):
                self.study.tell(trial, state=TrialState.PRUNED)
                self._current = None
                continue
            self._run_trial(trial)
            self._current = None

    def _abandon_current_trial(self) -> None:
        """Ctrl-C between asking for a trial and running it: fail it, so nothing stays RUNNING."""
        if self._current is None:
            return
        trial, run_id = self._current
        self._current = None
        try:
            self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        except Exception as exc:  # e.g. it was put back in the queue (WAITING) just before
            log.debug("interrupted trial %d not failed: %s", trial.number, exc)
        if run_id:
            _mlflow.end_child(run_id, "KILLED")

    @staticmethod
    def _grid_points_done(trials: list[optuna.trial.FrozenTrial]) -> int:
        # A grid point is run once: one that completed, or whose job failed (a refused factor
        # fails again), is done. A point whose worker died is not; its retry is queued.
        return len({t.system_attrs.get("grid_id") for t in trials if t.state == TrialState.COMPLETE
                    or (t.state == TrialState.FAIL and "fail_reason" in t.user_attrs)})

    def _run_trial(self, trial: optuna.Trial) -> None:
        with _interrupt_after():
            run_id = _mlflow.create_child(self.experiment_id, self.parent_id, trial, self.study_name)
            self._current = (trial, run_id)
        trial.set_user_attr(SESSION_ATTR, self.session)
        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        self._share_cores()
        beating = threading.Event()
        if self.storage.get_heartbeat_interval() is not None:
            threading.Thread(target=self._heartbeat, args=(trial._trial_id, beating), daemon=True).start()
        try:
            try:
                values = self.space.suggest(trial)
                if self.custom is not None:
                    self.custom(self.config, trial)
                    values = {**values, **{k: v for k, v in trial.params.items() if k not in values}}
                overrides = [*self.space.overrides(values), f"tracking.run_id={run_id}"]
                result = self.launch(overrides, trial.number)
                objective_values = self._check_values(result)
            except KeyboardInterrupt:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
                self.study.tell(trial, state=TrialState.FAIL)
                _mlflow.end_child(run_id, "KILLED")
                raise
            except Exception as exc:  # the job's own error: this trial fails, the sweep goes on
                reason = tracking.redact(f"{type(exc).__name__}: {exc}".strip())
                trial.set_user_attr("fail_reason", reason[:1000])
                self.study.tell(trial, state=TrialState.FAIL)
                _mlflow.end_child(run_id, "FAILED")
                log.warning("[sweep] trial %d failed: %s", trial.number, reason.splitlines()[0][:500])
            else:
                self.study.tell(trial, objective_values)
                _mlflow.end_child(run_id, "FINISHED")
        finally:
            beating.set()
        if self.is_worker:  # the sweep's progress lines come from the leader; a worker logs its own
            frozen = self.study._storage.get_trial(trial._trial_id)
            print(_summary.progress_line(self.study, frozen, self.n_trials, time.monotonic() - self.started,
                                         self.objective.keys), flush=True)

    def _share_cores(self) -> None:
        """Split the cores with other sweep commands running trials on this host (the same
        command started in several terminals): each gives its model every core otherwise, and
        OpenMP threads of several fits on the same cores spin waiting for each other (three
        commands on 2 cores took 2.4x longer). ``n_jobs`` workers share this command's split."""
        if not self.splits_threads:
            return
        host = socket.gethostname()
        # read now, not the loop's list from before ask(): a trial that started since counts
        neighbours = _study.neighbours_on_host(self.study.get_trials(deepcopy=False), self.session, host,
                                               WORKER_ATTR, SESSION_ATTR)
        threads = _cores_each(max(1, self.settings.processes) + len(neighbours))
        if threads != models.threads():
            print(f"[sweep] {len(neighbours)} other sweep process(es) running trials on {host}: "
                  f"{threads} model thread(s) per trial", flush=True)
            os.environ["IMBEXP_THREADS"] = str(threads)

    def _check_values(self, result: Any) -> list[float]:

        raw = list(result) if isinstance(result, list | tuple) or OmegaConf.is_list(result) else [result]
        if len(raw) != len(self.directions):
            raise ImbexpError(f"the job returned {len(raw)} value(s) for {len(self.directions)} direction(s).")
        try:
            values = [float(v) for v in raw]
        except (TypeError, ValueError):
            raise ImbexpError(f"the job returned {result!r}, not a number.") from None
        if not all(math.isfinite(v) for v in values):
            raise ImbexpError(f"the job returned {values}; a trial's objective must be finite.")
        return values

    def _heartbeat(self, trial_id: int, done: threading.Event) -> None:
        interval = self.settings.heartbeat_interval or 30
        while not done.is_set():
            try:
                self.storage.record_heartbeat(trial_id)
            except Exception as exc:  # a missed beat is retried; the grace period covers a few
                log.debug("heartbeat for trial %d failed: %s", trial_id, exc)
            done.wait(interval)

    # -- workers and the terminal -------------------------------------------------------------
    def _start_workers(self, count: int) -> None:
        if count <= 0 or self.argv is None:
            return
        folder = self.sweep_dir or Path.cwd()
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(1, count + 1):
            env = {**os.environ, WORKER_ENV: str(index), PARENT_ENV: self.parent_id, SESSION_ENV: self.session,
                   SWEEP_DIR_ENV: str(folder)}
            log_path = folder / f"worker-{index}.log"
            with open(log_path, "ab") as out:
                self._workers.append(subprocess.Popen(self.argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                      stdin=subprocess.DEVNULL))
            print(f"[sweep] worker {index} started (pid {self._workers[-1].pid}, log {log_path})", flush=True)

    def _wait_for_workers(self, interrupted: bool) -> None:
        if interrupted:
            # Ctrl-C in a terminal reaches every worker too; a signal sent to the leader alone
            # is passed on after a moment
            time.sleep(2)
            for worker in self._workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGINT)
        deadline = time.monotonic() + (60 if interrupted else 24 * 3600)
        for index, worker in enumerate(self._workers, start=1):
            try:
                code = worker.wait(timeout=max(1.0, deadline - time.monotonic()))
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                worker.kill()
                code = worker.wait()
            if code not in (0, 130, -signal.SIGINT) and not interrupted:
                print(f"[sweep] worker {index} exited with code {code}; see its log in {self.sweep_dir}", flush=True)

    def _report_progress(self) -> None:
        seen = {t.number for t in self.study.get_trials(deepcopy=False) if t.state.is_finished()}
        while True:
            stopping = self._stop.wait(1.0)
            try:
                trials = self.study.get_trials(deepcopy=False)
            except Exception:  # a busy database now and then is fine for a progress line
                continue
            for trial in sorted(trials, key=lambda t: t.number):
                if trial.state.is_finished() and trial.number not in seen:
                    seen.add(trial.number)
                    print(_summary.progress_line(self.study, trial, self.n_trials,
                                                 time.monotonic() - self.started, self.objective.keys), flush=True)
            if stopping:
                return

    def _failure_message(self) -> str:
        return (f"the sweep stopped: {self.failures} trials failed, more than hydra.sweeper.max_failure_rate="
                f"{self.settings.max_failure_rate} x n_trials={self.n_trials} allows; see the failed trials' "
                "logs and their fail_reason in the study.")

    def _write_report(self) -> None:
        """The sweep's HTML report, logged to the parent run (by the process the user started)."""
        try:
            from imbexp.report import write_report

            path = write_report(str(self.config.tracking.uri), parent_run_id=self.parent_id)
            print(f"[sweep] report: {path}", flush=True)
        except Exception as exc:  # the trials are tracked; a missing report must not fail the sweep
            log.warning("[sweep] the report could not be written: %s", exc)

    def _writes_summary(self, trials: list[optuna.trial.FrozenTrial]) -> bool:
        """Whether this command logs the parent run's summary and report. Commands sharing a study
        (other machines) all stop together; one of them does it: the one that ran the highest
        numbered COMPLETE trial (clocks need not agree). A study complete before this command
        started, an interrupted or failed sweep: this command reports what it sees."""
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        if not complete or self.complete_at_start >= self.n_trials:
            return True
        return max(complete, key=lambda t: t.number).user_attrs.get(SESSION_ATTR) == self.session

    def _finish(self, interrupted: bool) -> None:
        from mlflow.tracking import MlflowClient

        trials = self.study.get_trials(deepcopy=False)
        complete = _study.counts(trials).complete
        partial = interrupted or self.too_many_failures or complete < self.n_trials
        summary = partial or self._writes_summary(trials)
        if summary:
            try:
                _summary.log_to_parent(self.study, self.objective, self.directions, self.parent_id,
                                       self.experiment_id)
            except Exception as exc:  # the trials are safe in storage and MLflow; the summary is a bonus
                log.warning("[sweep] parent run summary incomplete: %s", exc)
        else:
            print("[sweep] the parent run's summary and report are written by the command that ran the "
                  "study's last trial", flush=True)
        status = "KILLED" if interrupted else "FAILED" if self.too_many_failures else "FINISHED"
        if summary and not interrupted and complete >= self.n_trials and WORKER_ENV not in os.environ:
            self._write_report()
        if interrupted or self.too_many_failures or complete >= self.n_trials:
            MlflowClient().set_terminated(self.parent_id, status)
        print(_summary.final_table(self.study, self.objective.keys), flush=True)
        print(f"[sweep] MLflow parent run {self.parent_id} · {tracking.ui_hint(str(self.config.tracking.uri))}",
              flush=True)
        print(f"[sweep] watch the study: optuna-dashboard {self.storage_label}", flush=True)
        if self.too_many_failures:
            raise ImbexpError(self._failure_message())
        if interrupted:
            sys.exit(130)
