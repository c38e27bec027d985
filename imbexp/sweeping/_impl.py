"""The sweep: an ask/tell loop over a shared Optuna study, run by one or many processes.

How ``n_jobs=k`` runs k trials at once: the sweep process starts k-1 worker processes with the
same command line (marked by :data:`imbexp.names.SWEEP_WORKER_ENV`). Every process runs the same
loop against the study in storage and launches its trials in-process through Hydra's launcher. Sweeps started
on other machines with the same command join the same way (they find the study by name and the
parent run through the study), so one process, one machine and many machines are one design.

``n_trials`` is the study's total of COMPLETE trials: a fresh study runs n_trials trials, a
resumed or shared study stops at that same total. Failed trials are retried with new trials;
the sweep stops with an error once this run's failures exceed ``max_failure_rate x n_trials``.

What can fail on the user's config is decided first, in the :class:`~imbexp.sweeping.SweepPlan`
(:mod:`imbexp.sweeping._plan`); this loop takes the plan.

How a sweep stops: Ctrl-C and SIGTERM (``timeout``, docker stop, a scheduler) alike fail the
running trials (FAIL in Optuna, KILLED in MLflow), stop the workers and close the parent run as
KILLED. A worker never outlives its leader: the kernel sends it SIGTERM when the leader dies,
even by kill -9 (Linux's parent-death signal; elsewhere the worker polls its parent). A trial
whose process died on this host is failed and retried by the next loop that sees it, heartbeats
or not.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import TrialState

from imbexp import lifecycle, models, names, tracking
from imbexp import threads as threads_policy
from imbexp.errors import ImbexpError
from imbexp.sweeping import _budget, _mlflow, _pruning, _study, _summary
from imbexp.sweeping._experiment import ExperimentSteps, quiet_progress, quiet_trials
from imbexp.sweeping._plan import SweepPlan

log = logging.getLogger("imbexp")

POLL_SECONDS = 0.5
#: the signals that stop a sweep as Ctrl-C does
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: seconds a stopping sweep gives its workers to fail their trials before killing them
STOP_GRACE_SECONDS = 60
#: tries a stopping process gives a busy storage to record its trial as failed, a second apart
FAIL_ATTEMPTS = 3
#: Linux prctl(2) option: the signal this process gets when its parent dies
PR_SET_PDEATHSIG = 1

Launch = Callable[[list[str], int], Any]


def worker_index() -> int:
    """This process's worker index: 0 in the sweep command the user started, 1, 2, ... in the
    workers it starts."""
    return int(os.environ.get(names.SWEEP_WORKER_ENV, "0") or 0)


def _cores_each(processes: int, cores: int | None = None) -> int:
    """Model threads for each of ``processes`` processes sharing ``cores`` (default: every core)."""
    return max(1, (cores or os.cpu_count() or 1) // processes)


class Stopped(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, raised in the main thread. A KeyboardInterrupt, so every clean-up
    written for Ctrl-C (the Hydra launcher lets it through, the trial is failed) runs for both."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop_signal(error: BaseException) -> int:
    return getattr(error, "signum", signal.SIGINT)


#: the stop signals received since the sweep took them, first first. Python swallows an
#: exception raised in a finalizer or a weakref callback (it prints "Exception ignored in" and goes
#: on), and a signal handler runs wherever the main thread is, SQLAlchemy's and MLflow's clean-ups
#: included: a SIGTERM landing there was lost and the sweep ran on. The loop raises a stop
#: recorded here that no exception carried (:func:`_raise_pending`).
_pending: list[int] = []


#: a second stop raises again: the sweep's own clean-up ignores them (:func:`_ignore_stop_signals`)
_raise_stopped = lifecycle.stop_handler(_pending, Stopped, ignore_further=False)


def _raise_pending() -> None:
    """Raise the first stop signal received, if any: one whose exception a finalizer swallowed.
    Only where the sweep's handlers are (the main thread; a sweep in a thread keeps Python's)."""
    if _pending and threading.current_thread() is threading.main_thread():
        raise Stopped(_pending[0])


def _ignore_stop_signals() -> None:
    """A second Ctrl-C or SIGTERM must not cut the clean-up of the first."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)


def exit_code(signum: int) -> int:
    """The shell's code for a command ended by ``signum``: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + signum


def _die_with_parent(leader_pid: int) -> bool:
    """Make this worker get SIGTERM when the sweep command that started it dies, however it
    dies (kill -9 included), so no worker runs on alone. False if the leader is already gone.

    Linux's ``prctl(PR_SET_PDEATHSIG)`` has the kernel send the signal; it is set here, at the
    worker's start, rather than in Popen's ``preexec_fn``, which is unsafe in a process with
    threads. A thread also polls the parent pid each second (see below).
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError) as exc:
            log.debug("prctl unavailable: %s", exc)
    # checked after arming: a leader that died before prctl would never send the signal
    if os.getppid() != leader_pid:
        return False
    # The kernel's signal is sent once; one that lands while the worker ignores stops for a
    # moment would be lost, and the worker would run on alone. So a thread also watches the
    # parent (the only guard where prctl is missing) and repeats SIGTERM until the worker ends;
    # a worker already stopping ignores the repeats.
    def watch() -> None:
        while os.getppid() == leader_pid:
            time.sleep(1.0)
        while True:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5.0)

    threading.Thread(target=watch, daemon=True, name="imbexp-leader-watch").start()
    return True


@contextlib.contextmanager
def _interrupt_after():
    """Hold Ctrl-C and SIGTERM until the block is done, then raise them.

    For the steps that create something in storage and then record it here: ``study.ask()``
    writes the new RUNNING trial before it returns, ``create_child`` the MLflow run. Cut in
    between, the clean-up would not know them and they would stay RUNNING.
    """
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    received: list[int] = []

    def hold(number: int, frame: Any) -> None:
        received.append(number)
        _pending.append(number)  # kept if the block ends in an error: the loop raises it then

    previous = {number: signal.signal(number, hold) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received:
        raise Stopped(received[0])


class WorkerStartError(ImbexpError):
    """A worker process could not be started; the sweep has stopped the ones it started."""


class OptunaSweep(ExperimentSteps):
    """One process's part of a sweep, following its plan; :meth:`run` does it all.

    ``launch(overrides, job_index)`` runs one job and returns its value (raising the job's
    error); the Hydra plugin passes Hydra's launcher, tests can pass their own. ``argv`` is the
    command a worker process runs (none are started without it); ``sweep_dir`` holds their logs.
    """

    def __init__(self, plan: SweepPlan, launch: Launch, sweep_dir: str | None = None,
                 argv: list[str] | None = None) -> None:
        self.plan = plan
        self.launch = launch
        self.sweep_dir = Path(sweep_dir) if sweep_dir else None
        self.argv = argv
        self.worker_index = worker_index()
        self.is_worker = names.SWEEP_WORKER_ENV in os.environ
        self.session = os.environ.get(names.SWEEP_SESSION_ENV) or uuid.uuid4().hex
        self._workers: list[subprocess.Popen] = []
        self._stop = threading.Event()
        self.failures = 0
        self._current: tuple[optuna.Trial, str | None] | None = None
        self.too_many_failures = False
        self.host = socket.gethostname()
        self._stopped_while_waiting: int | None = None
        self.complete_at_start = 0
        self.stop_reason: str | None = None  # timeout or target: no more trials, a clean end
        self.cores: int | None = None  # the cores this command's trials share (None: every core)

    def _take_stop_signals(self) -> None:
        """Ctrl-C and SIGTERM raise :class:`Stopped` in the loop (signals reach the main thread
        only; a sweep run from a thread, as in tests, keeps Python's own handling)."""
        if threading.current_thread() is threading.main_thread():
            _pending.clear()
            for number in STOP_SIGNALS:
                signal.signal(number, _raise_stopped)

    # -- the sweep ----------------------------------------------------------------------------
    def run(self) -> None:
        leader = os.environ.get(names.SWEEP_LEADER_PID_ENV, "")
        if self.is_worker and leader.isdigit() and not _die_with_parent(int(leader)):
            print(f"[sweep] the sweep command (pid {leader}) that started this worker is gone; stopping", flush=True)
            return
        self._take_stop_signals()
        if not self.is_worker and self._report_finished_study():
            return
        self.launch = quiet_trials(self.launch, self.plan.settings.verbose)
        try:
            with _interrupt_after():  # a parent run made is a parent run recorded, then closed
                self.parent_id = _mlflow.find_or_create_parent(
                    self.plan.study, self.plan.storage, self.plan.experiment_id,
                    given=os.environ.get(names.SWEEP_PARENT_RUN_ENV), tags={
                        names.STORAGE_TAG: self.plan.storage_label,
                        names.SAMPLER_TAG: self.plan.sampler_name,
                        names.DIRECTIONS_TAG: ",".join(self.plan.directions),
                        names.OBJECTIVE_TAG: ",".join(self.plan.objective.keys),
                    })
        except KeyboardInterrupt as stop:
            _ignore_stop_signals()
            if not self.is_worker:
                _mlflow.end_parent(self.parent_id, "KILLED")
            sys.exit(exit_code(_stop_signal(stop)))
        processes = max(1, self.plan.settings.processes)
        # model threads are the sweep's to split unless the user set them (a worker inherits
        # the leader's split, marked as the sweep's own)
        self.splits_threads = (names.THREADS_ENV not in os.environ
                               or os.environ.get(names.THREADS_BY_SWEEP_ENV) == "1")
        if names.THREADS_ENV not in os.environ:
            # the cores idle now, split between the trials: cores other processes keep busy
            # would make every fit wait for them (imbexp.threads)
            self.cores = threads_policy.idle()
            os.environ[names.THREADS_ENV] = str(_cores_each(processes, self.cores))
            os.environ[names.THREADS_BY_SWEEP_ENV] = "1"
        else:  # a worker's share of the cores its leader found idle (the user's own threads are not split)
            self.cores = models.threads() * processes if self.splits_threads else None
        self.started = time.monotonic()
        progress = None if self.is_worker else threading.Thread(target=self._report_progress, daemon=True)
        stopped_by: int | None = None
        try:
            before = _study.counts(self.plan.study.get_trials(deepcopy=False))
            self.complete_at_start = before.complete + before.pruned
            if not self.is_worker:
                pruned = f" (+{before.pruned} pruned)" if before.pruned else ""
                print(f"[sweep] study {self.plan.study_name} in {self.plan.storage_label}: {before.complete} of "
                      f"{self.plan.n_trials} trials complete{pruned}; sampler {self.plan.sampler_name}, "
                      f"{processes} parallel trial(s) x {os.environ[names.THREADS_ENV]} model thread(s); "
                      f"MLflow parent run {self.parent_id}", flush=True)
                self._start_workers(processes - 1)
            if progress:
                progress.start()
            self._loop()
            _raise_pending()  # a stop during the last trial that a finalizer swallowed
        except KeyboardInterrupt as stop:
            _ignore_stop_signals()
            stopped_by = _stop_signal(stop)
            how = "interrupted" if stopped_by == signal.SIGINT else f"stopped by {signal.Signals(stopped_by).name}"
            print(f"\n[sweep] {how}: stopping; finished trials stay in the study and in MLflow", flush=True)
            self._stop_workers(stopped_by)  # first: failing this process's trial may wait for the storage
            self._abandon_current_trial()
        except Exception:
            # a worker that could not be started, or a storage that broke: no worker runs on
            # without this command, and neither the parent run nor a trial is left RUNNING
            _ignore_stop_signals()
            self._stop.set()
            self._stop_workers(signal.SIGTERM)
            with contextlib.suppress(Exception):
                self._abandon_current_trial()
            self._wait_for_workers(signal.SIGTERM)
            if not self.is_worker:
                with contextlib.suppress(Exception):
                    self._fail_leftovers()
                with contextlib.suppress(Exception):
                    _mlflow.end_parent(self.parent_id, "FAILED")
            raise
        finally:
            if stopped_by is None and threading.current_thread() is threading.main_thread():
                # what is left is waiting for the workers: a stop now stops them, and is a stop
                for number in STOP_SIGNALS:
                    signal.signal(number, self._on_stop_while_waiting)
            self._stop.set()
            if progress and progress.is_alive():
                progress.join(timeout=10)
        stopped_by = self._wait_for_workers(stopped_by)
        if not self.is_worker:
            self._fail_leftovers()
        if self.is_worker:
            if self.too_many_failures:
                raise ImbexpError(self._failure_message())
            if stopped_by is not None:
                sys.exit(exit_code(stopped_by))
            return
        self._finish(stopped_by)

    def _loop(self) -> None:
        allowed_failures = self.plan.settings.max_failure_rate * self.plan.n_trials
        while True:
            _raise_pending()
            if self.plan.heartbeats:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(self.plan.study)
            trials = self.plan.study.get_trials(deepcopy=False)
            if self._fail_dead_local_trials(trials):
                trials = self.plan.study.get_trials(deepcopy=False)
            counts = _study.counts(trials)
            # a pruned trial is done: the pruner judged it, and another trial is not run instead
            done = self._grid_points_done(trials) if self.plan.is_grid else counts.complete + counts.pruned
            if done >= self.plan.n_trials:
                return
            self.failures = sum(t.state == TrialState.FAIL
                                and t.user_attrs.get(names.TRIAL_SESSION_ATTR) == self.session for t in trials)
            if self.failures > allowed_failures:
                self.too_many_failures = True
                return
            self.stop_reason = _budget.stop_reason(self.plan.study, self.plan.settings.timeout,
                                                   self.plan.settings.target, self.started)
            if self.stop_reason:
                return
            if done + counts.running >= self.plan.n_trials:
                time.sleep(POLL_SECONDS)  # the last trials are running elsewhere; one may still fail
                continue
            with _interrupt_after(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "heartbeat is supposed to be used with optimize"
                trial = self.plan.study.ask()
                self._current = (trial, None)
                # whose it is, at once: a trial a worker could not fail any more (a storage error
                # in its clean-up, a kill after the grace period) is then still known as that
                # worker's, and the sweep command fails it when its workers have ended
                self._claim(trial)
            # grid points whose job failed are done without being COMPLETE: fewer slots remain
            if not _study.admitted(self.plan.study, trial.number, self.plan.n_trials - (done - counts.complete)):
                with _interrupt_after():  # not this process's once back in the queue: another may pop it
                    self._unclaim(trial)
                    _study.requeue(self.plan.study, trial._trial_id)
                    self._current = None
                time.sleep(POLL_SECONDS * (1 + self.worker_index))
                continue
            # two workers asking at once can draw the same grid point; the later one drops it
            if self.plan.is_grid and _study.duplicate_grid_point(self.plan.study, trial):
                self.plan.study.tell(trial, state=TrialState.PRUNED)
                self._current = None
                continue
            if self.plan.settings.deduplicate and self._answer_from_store(trial):
                self._current = None
                continue
            self._run_trial(trial)
            self._current = None

    def _claim(self, trial: optuna.Trial) -> None:
        trial.set_user_attr(names.TRIAL_SESSION_ATTR, self.session)
        trial.set_user_attr(names.TRIAL_WORKER_ATTR, f"{self.host}:{os.getpid()}")

    @staticmethod
    def _unclaim(trial: optuna.Trial) -> None:
        trial.set_user_attr(names.TRIAL_SESSION_ATTR, "")
        trial.set_user_attr(names.TRIAL_WORKER_ATTR, "")

    def _fail_stored(self, trial_id: int, number: int, worker: str) -> bool:
        """Fail the RUNNING trial ``trial_id`` if ``worker`` (``host:pid``) still holds it,
        retrying a storage that is busy (the other processes of a stopping sweep write at the
        same moment); whether this call failed it. A trial another process took meanwhile (put
        back in the queue and popped elsewhere), or one told already, is left alone."""
        for attempt in range(FAIL_ATTEMPTS):
            try:
                stored = self.plan.storage.get_trial(trial_id)
                if stored.state != TrialState.RUNNING or stored.user_attrs.get(names.TRIAL_WORKER_ATTR) != worker:
                    return False
                return self.plan.storage.set_trial_state_values(trial_id, TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:  # told by its process just now
                return False
            except Exception as exc:
                if attempt == FAIL_ATTEMPTS - 1:
                    log.warning("[sweep] trial %d could not be failed (%s); it stays RUNNING until the next sweep "
                                "of this study on %s fails it", number, str(exc).splitlines()[0][:300], self.host)
                    return False
                time.sleep(1.0)
        return False

    def _abandon_current_trial(self) -> None:
        """A stop while this process holds a trial (asking for it, running it, telling it): fail
        it and mark its run KILLED, so nothing stays RUNNING."""
        if self._current is None:
            return
        trial, run_id = self._current
        self._current = None
        if self._fail_stored(trial._trial_id, trial.number, f"{self.host}:{os.getpid()}") and run_id:
            _mlflow.end_child(run_id, "KILLED")

    def _fail_leftovers(self) -> None:
        """Fail the trials this command's workers left RUNNING once they have all ended (one
        killed after the grace period, a clean-up the storage refused): none can finish any more,
        and a RUNNING trial would count as running for ever."""
        workers = {f"{self.host}:{worker.pid}" for worker in self._workers}
        if not workers:
            return
        try:
            trials = self.plan.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        except Exception as exc:
            log.warning("[sweep] the study could not be read to close its workers' trials: %s", exc)
            return
        for trial in trials:
            worker = trial.user_attrs.get(names.TRIAL_WORKER_ATTR)
            if worker not in workers or trial.user_attrs.get(names.TRIAL_SESSION_ATTR) != self.session:
                continue
            if not self._fail_stored(trial._trial_id, trial.number, worker):
                continue
            run_id = trial.user_attrs.get(names.TRIAL_RUN_ATTR)
            if run_id:
                _mlflow.end_child(str(run_id), "KILLED")
            print(f"[sweep] trial {trial.number} was left running by a stopped worker ({worker}): failed", flush=True)

    def _fail_dead_local_trials(self, trials: list[optuna.trial.FrozenTrial]) -> bool:
        """Fail and retry the RUNNING trials whose process on this host is gone, as the heartbeat
        does (its MLflow run ends KILLED); whether there were any. Without heartbeats nothing
        else fails them, and the sweep would wait for them for ever."""
        dead = _study.dead_on_host(trials, self.host, names.TRIAL_WORKER_ATTR)
        if not dead:
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = optuna.storages.RetryFailedTrialCallback(max_retry=self.plan.settings.max_retry)
        for trial in dead:
            try:  # two commands on this host may see it at once; the storage lets one fail it
                if not self.plan.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            run_id = trial.user_attrs.get(names.TRIAL_RUN_ATTR)
            if run_id:
                _mlflow.end_child(str(run_id), "KILLED")
            retry(self.plan.study, self.plan.storage.get_trial(trial._trial_id))
            print(f"[sweep] trial {trial.number}'s process ({trial.user_attrs[names.TRIAL_WORKER_ATTR]}) is gone: "
                  "failed, and queued again", flush=True)
        return True

    @staticmethod
    def _grid_points_done(trials: list[optuna.trial.FrozenTrial]) -> int:
        # A grid point is run once: one that completed, was pruned (it would be pruned again), or
        # whose job failed (a refused factor fails again), is done. A point whose worker died is
        # not; its retry is queued. A duplicate point told PRUNED has no pruned attribute.
        return len({t.system_attrs.get("grid_id") for t in trials if t.state == TrialState.COMPLETE
                    or (t.state == TrialState.PRUNED and names.TRIAL_PRUNED_ATTR in t.user_attrs)
                    or (t.state == TrialState.FAIL and names.TRIAL_FAIL_REASON_ATTR in t.user_attrs)})

    def _run_trial(self, trial: optuna.Trial) -> None:
        with _interrupt_after():
            run_id = _mlflow.create_child(self.plan.experiment_id, self.parent_id, trial, self.plan.study_name)
            self._current = (trial, run_id)
        self._share_cores()
        beating = threading.Event()
        if self.plan.storage.get_heartbeat_interval() is not None:
            threading.Thread(target=self._heartbeat, args=(trial._trial_id, beating), daemon=True).start()
        reports = None
        try:
            try:
                values = self.plan.space.suggest(trial)
                if self.plan.custom is not None:
                    self.plan.custom(self.plan.config, trial)
                    values = {**values, **{k: v for k, v in trial.params.items() if k not in values}}
                overrides = [*self.plan.space.overrides(values), f"tracking.run_id={run_id}"]
                with _pruning.reporting(trial, self.plan.pruner, self.plan.objective.metrics[0]) as reports:
                    result = self.launch(overrides, trial.number)
                objective_values = self._check_values(result)
                # before the tell (a finished trial takes no constraint); an error recording them
                # fails the trial as a job's error does, rather than leave it and its run RUNNING
                self._record_constraints(trial, run_id)
            # Each tell and the closing of its run are one step a stop waits for: cut in between,
            # the trial would be told but its run left RUNNING.
            except optuna.TrialPruned:  # the pruner stopped it after some folds: no failure
                with _interrupt_after():
                    _pruning.tell_pruned(self.plan.study, trial, run_id, reports)
                    self._current = None
            except KeyboardInterrupt:
                # :meth:`run` passes the stop on to the workers first, then fails this trial
                # (``self._current``) and marks its run KILLED
                _ignore_stop_signals()
                raise
            except Exception as exc:  # the job's own error (or its constraints'): this trial fails, the sweep goes on
                reason = tracking.redact(f"{type(exc).__name__}: {exc}".strip())
                with _interrupt_after():
                    trial.set_user_attr(names.TRIAL_FAIL_REASON_ATTR, reason[:1000])
                    self.plan.study.tell(trial, state=TrialState.FAIL)
                    _mlflow.end_child(run_id, "FAILED")
                    self._current = None
                log.warning("[sweep] trial %d failed: %s", trial.number, reason.splitlines()[0][:500])
            else:
                with _interrupt_after():
                    self.plan.study.tell(trial, objective_values)
                    _mlflow.end_child(run_id, "FINISHED")
                    self._current = None
        finally:
            beating.set()
        self._print_progress(trial)

    def _share_cores(self) -> None:
        """Split the cores with other sweep commands running trials on this host (the same
        command started in several terminals): each gives its model every core otherwise, and
        OpenMP threads of several fits on the same cores spin waiting for each other (three
        commands on 2 cores took 2.4x longer). ``n_jobs`` workers share this command's split."""
        if not self.splits_threads:
            return
        host = socket.gethostname()
        # read now, not the loop's list from before ask(): a trial that started since counts
        neighbours = _study.neighbours_on_host(self.plan.study.get_trials(deepcopy=False), self.session, host,
                                               names.TRIAL_WORKER_ATTR, names.TRIAL_SESSION_ATTR)
        # the cores found idle at the start, not every core: a sweep that started on a busy
        # machine went to every core once a neighbour's trial ended
        threads = _cores_each(max(1, self.plan.settings.processes) + len(neighbours), self.cores)
        if threads != models.threads():
            who = (f"{len(neighbours)} other sweep process(es) running trials on {host}" if neighbours
                   else f"no other sweep process running trials on {host} any more")
            print(f"[sweep] {who}: {threads} model thread(s) per trial", flush=True)
            os.environ[names.THREADS_ENV] = str(threads)

    def _check_values(self, result: Any) -> list[float]:

        raw = list(result) if isinstance(result, list | tuple) or OmegaConf.is_list(result) else [result]
        if len(raw) != len(self.plan.directions):
            raise ImbexpError(f"the job returned {len(raw)} value(s) for {len(self.plan.directions)} direction(s).")
        try:
            values = [float(v) for v in raw]
        except (TypeError, ValueError):
            raise ImbexpError(f"the job returned {result!r}, not a number.") from None
        if not all(math.isfinite(v) for v in values):
            raise ImbexpError(f"the job returned {values}; a trial's objective must be finite.")
        return values

    def _heartbeat(self, trial_id: int, done: threading.Event) -> None:
        interval = self.plan.settings.heartbeat_interval or 30
        while not done.is_set():
            try:
                self.plan.storage.record_heartbeat(trial_id)
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
            env = {**os.environ, names.SWEEP_WORKER_ENV: str(index), names.SWEEP_PARENT_RUN_ENV: self.parent_id,
                   names.SWEEP_SESSION_ENV: self.session, names.SWEEP_DIR_ENV: str(folder),
                   names.SWEEP_LEADER_PID_ENV: str(os.getpid())}
            log_path = folder / f"worker-{index}.log"
            try:
                with _interrupt_after(), open(log_path, "ab") as out:
                    self._workers.append(subprocess.Popen(self.argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                          stdin=subprocess.DEVNULL))
            except OSError as exc:  # out of processes, memory or file handles
                raise WorkerStartError(
                    f"worker {index} of hydra.sweeper.n_jobs={self.plan.settings.n_jobs} could not be started "
                    f"({type(exc).__name__}: {exc}); the sweep stopped the {index - 1} worker(s) it had started "
                    "and closed its parent run as FAILED; use a smaller hydra.sweeper.n_jobs.") from None
            print(f"[sweep] worker {index} started (pid {self._workers[-1].pid}, log {log_path})", flush=True)

    def _stop_workers(self, signum: int) -> None:
        """Pass a stop on to the workers still running. Ctrl-C in a terminal reaches every worker
        itself; a Ctrl-C sent to the leader alone is passed on after a moment. SIGTERM is sent to
        one process (``timeout``, docker stop, a scheduler): passed on at once."""
        if signum == signal.SIGINT:
            time.sleep(2)
        for worker in self._workers:
            if worker.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.send_signal(signum)

    def _on_stop_while_waiting(self, signum: int, frame: Any) -> None:
        _ignore_stop_signals()
        self._stopped_while_waiting = signum
        for worker in self._workers:
            if worker.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.send_signal(signum)

    def _wait_for_workers(self, stopped_by: int | None) -> int | None:
        """Wait for the workers (killed if a stop does not end them in time); the signal that
        stopped the sweep, if any, including one received while waiting."""
        deadline = time.monotonic() + (STOP_GRACE_SECONDS if stopped_by is not None else 24 * 3600)
        for index, worker in enumerate(self._workers, start=1):
            while True:
                limit = deadline
                if stopped_by is None and self._stopped_while_waiting is not None:
                    stopped_by = self._stopped_while_waiting
                    deadline = limit = time.monotonic() + STOP_GRACE_SECONDS
                try:
                    code = worker.wait(timeout=min(1.0, max(0.1, limit - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= limit:
                        worker.kill()
                        code = worker.wait()
                        break
            stopped = code in (0, *(exit_code(n) for n in STOP_SIGNALS), *(-n for n in STOP_SIGNALS))
            if not stopped and stopped_by is None:
                print(f"[sweep] worker {index} exited with code {code}; see its log in {self.sweep_dir}", flush=True)
        if stopped_by is None:
            stopped_by = self._stopped_while_waiting
        return stopped_by

    def _report_progress(self) -> None:
        seen = {t.number for t in self.plan.study.get_trials(deepcopy=False) if t.state.is_finished()}
        while True:
            stopping = self._stop.wait(1.0)
            try:
                trials = self.plan.study.get_trials(deepcopy=False)
            except Exception:  # a busy database now and then is fine for a progress line
                continue
            for trial in sorted(trials, key=lambda t: t.number):
                # a grid's duplicate point is told PRUNED without running (and without the pruned
                # attribute): not a trial of the sweep, so no line
                dropped = trial.state == TrialState.PRUNED and names.TRIAL_PRUNED_ATTR not in trial.user_attrs
                if trial.state.is_finished() and trial.number not in seen and not self._ran_here(trial) \
                        and not dropped:
                    seen.add(trial.number)
                    print(_summary.progress_line(self.plan.study, trial, self.plan.n_trials,
                                                 time.monotonic() - self.started, self.plan.objective.keys), flush=True)
            if stopping:
                return

    def _failure_message(self) -> str:
        return (f"the sweep stopped: {self.failures} trials failed, more than hydra.sweeper.max_failure_rate="
                f"{self.plan.settings.max_failure_rate} x n_trials={self.plan.n_trials} allows; see the failed trials' "
                "logs and their fail_reason in the study.")

    def _write_report(self, status: str) -> None:
        """The sweep's HTML report, logged to the parent run (by the process the user started),
        showing ``status``, the one the parent run is closed with next."""
        try:
            from imbexp.report import write_report

            path = write_report(str(self.plan.config.tracking.uri), parent_run_id=self.parent_id,
                                parent_status=status)
            print(f"[sweep] report: {path}", flush=True)
        except Exception as exc:  # the trials are tracked; a missing report must not fail the sweep
            log.warning("[sweep] the report could not be written: %s", exc)

    def _writes_summary(self, trials: list[optuna.trial.FrozenTrial]) -> bool:
        """Whether this command logs the parent run's summary and report. Commands sharing a study
        (other machines) all stop together; one of them does it: the one that ran the highest
        numbered COMPLETE trial (clocks need not agree). A study complete before this command
        started, an interrupted or failed sweep: this command reports what it sees."""
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        if not complete or self.complete_at_start >= self.plan.n_trials:
            return True
        return max(complete, key=lambda t: t.number).user_attrs.get(names.TRIAL_SESSION_ATTR) == self.session

    def _finish(self, stopped_by: int | None) -> None:
        interrupted = stopped_by is not None
        trials = self.plan.study.get_trials(deepcopy=False)
        counts = _study.counts(trials)
        complete = counts.complete + counts.pruned  # pruned trials count towards n_trials
        ended = complete >= self.plan.n_trials or self.stop_reason is not None  # timeout or target
        if self.stop_reason:
            print(f"[sweep] {self.stop_reason}", flush=True)
        partial = interrupted or self.too_many_failures or complete < self.plan.n_trials
        summary = partial or self._writes_summary(trials)
        if summary:
            try:
                _summary.log_to_parent(self.plan.study, self.plan.objective, self.plan.directions, self.parent_id,
                                       self.plan.experiment_id)
            except Exception as exc:  # the trials are safe in storage and MLflow; the summary is a bonus
                log.warning("[sweep] parent run summary incomplete: %s", exc)
        else:
            print("[sweep] the parent run's summary and report are written by the command that ran the "
                  "study's last trial", flush=True)
        if summary and not interrupted and not self.is_worker:  # a stop while comparing is a stop of the sweep
            with quiet_progress(self.plan.settings.verbose):
                stopped_by = _summary.compare_with_baselines(str(self.plan.config.tracking.uri), self.parent_id)
            interrupted = stopped_by is not None
        status = "KILLED" if interrupted else "FAILED" if self.too_many_failures else "FINISHED"
        if summary and not interrupted and ended and not self.is_worker:
            with quiet_progress(self.plan.settings.verbose):
                self._write_report(status)
        if interrupted or self.too_many_failures or ended:
            _mlflow.end_parent(self.parent_id, status)
        print(_summary.final_table(self.plan.study, self.plan.objective.keys), flush=True)
        print(f"[sweep] MLflow parent run {self.parent_id} · {tracking.ui_hint(str(self.plan.config.tracking.uri))}",
              flush=True)
        print(f"[sweep] watch the study: optuna-dashboard {self.plan.storage_label}", flush=True)
        if self.too_many_failures:
            raise ImbexpError(self._failure_message())
        if stopped_by is not None:
            sys.exit(exit_code(stopped_by))
