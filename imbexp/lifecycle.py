"""What a run ends as when its process stops before the run does (DESIGN.md, "Lifecycle").

- SIGINT (Ctrl-C) or SIGTERM (``timeout``, ``docker stop``, a scheduler) in a single run: the
  run ends KILLED and the command says so in one line, exit code 130 or 143 as a shell reports
  them. Python's default turns SIGINT into a KeyboardInterrupt, which MLflow's run context ends
  FAILED after a 53-line traceback, and SIGTERM kills the process with its run left RUNNING.
- kill -9, a machine that went down: nothing runs in the process, so the next imbexp command on
  the same store closes the run. Every run carries the host, pid and start time of its process
  (:func:`process_tags`); a RUNNING run of this host whose process is gone, or whose pid now
  belongs to a later process, is marked KILLED (:func:`close_dead_runs`). Runs of other hosts
  cannot be checked from here; they are closed only once older than ``tracking.stale_after_hours``.

The stop handlers are for single runs and grids (Hydra's basic sweeper); imbexp's Optuna sweeper
keeps its own handling of Ctrl-C and SIGTERM for its trials.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

from imbexp import names

log = logging.getLogger("imbexp")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: a process started this long after the run's start is another process on a reused pid
#: (psutil's start times are rounded to the clock tick, MLflow's to the millisecond)
_START_SLACK_SECONDS = 1.0


# -- who runs a run ---------------------------------------------------------------------------
def _this_process_start() -> float:
    import psutil

    return psutil.Process(os.getpid()).create_time()


def process_tags() -> dict[str, str]:
    """The tags that let a later command tell whether this run's process is still there."""
    return {names.HOST_TAG: socket.gethostname(), names.PID_TAG: str(os.getpid()),
            names.PROCESS_START_TAG: f"{_this_process_start():.2f}"}


# -- a signal in a single run ------------------------------------------------------------------
class Stopped(BaseException):
    """SIGINT or SIGTERM in a single run, raised in the main thread.

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` on the way (ours, a
    library's, Hydra's) takes it for the job's own error.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a process ended by that signal


def install_stop_handlers() -> None:
    """SIGINT and SIGTERM raise :class:`Stopped` (single runs and grids; a sweeper has its own).

    A signal the process was started ignoring (``nohup``, a shell's background job ignores
    SIGINT) stays ignored, as Python itself does for SIGINT. Only the main thread can set
    handlers (a run started from another thread keeps Python's own).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _raise_stopped)


#: the packages whose code a stop must not cut. An exception raised in SQLAlchemy between a
#: write and its commit or rollback left this process holding SQLite's write lock: its own next
#: write (the run's KILLED, the trial's FAIL) waited out the 20 s busy timeout and failed, and the
#: run stayed RUNNING. Client libraries over HTTP are not listed: their retries can take minutes,
#: too long to hold a stop.
_UNCUTTABLE = ("sqlalchemy.", "alembic.")
_held: list[bool] = []  # a stop is held already (a second Ctrl-C meanwhile changes nothing)


def held_for_storage(frame: Any, act: Callable[[], None]) -> bool:
    """Whether a stop handler interrupted database code (``frame`` or a caller of it is in
    :data:`_UNCUTTABLE`'s code). If so, ``act`` (the handler's raise) runs instead as the
    outermost such frame returns, so the stop comes out of the database call at its call site,
    inside the caller's ``with`` and ``try`` (their commit or rollback runs), and the handler
    returns.

    Python runs a signal handler between any two bytecodes of the main thread and has no way to
    hold one for a block (``pthread_sigmask`` holds the C signal, not Python's handler), so this
    does what ``pdb`` does to stop at a frame's return: a trace function on that frame (its line
    events off), and a no-op one for the thread while the call finishes (the call runs traced,
    about 2x slower, for what it has left: milliseconds for MLflow's and Optuna's writes). Python
    unsets the thread's tracer when a trace function raises, so a coverage tool or a debugger
    stops tracing after a stop.
    """
    outermost = None
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(_UNCUTTABLE):
            outermost = frame
        frame = frame.f_back
    if outermost is None or outermost.f_back is None:
        return False
    if _held and sys.gettrace() is not None:
        return True  # a stop is held already: one is enough
    _held.clear()  # (or its tracer was taken away: hold this one)

    def at_return(traced: Any, event: str, arg: Any) -> Any:
        if event != "return":
            return at_return
        sys.settrace(None)
        _held.clear()
        act()  # raises the stop at the database call's call site
        return None

    _held.append(True)
    outermost.f_trace_lines = False
    outermost.f_trace = at_return
    sys.settrace(lambda traced, event, arg: None)
    return True


#: the first stop signal received, kept: Python swallows an exception raised in a finalizer or a
#: weakref callback ("Exception ignored in"), and the handler runs wherever the main thread is
#: (SQLAlchemy's and MLflow's clean-ups included). The stop is then acted on at the next job's
#: start or the command's end (:func:`pending_stop`), not lost with later signals ignored.
_pending: list[int] = []


def stop_handler(received: list[int], exception: Callable[[int], BaseException], *,
                 ignore_further: bool) -> Callable[[int, Any], None]:
    """The handler of a stop signal that raises ``exception(signum)``: held out of database calls
    (:func:`held_for_storage`), and kept in ``received`` for the code that checks for a stop a
    finalizer swallowed. ``ignore_further``: later signals are ignored, so a second Ctrl-C does
    not cut the clean-up of the first."""

    def stop(signum: int) -> NoReturn:
        if ignore_further:
            for other in STOP_SIGNALS:
                signal.signal(other, signal.SIG_IGN)
        received.append(signum)
        raise exception(signum)

    def handler(signum: int, frame: Any) -> None:
        if not held_for_storage(frame, lambda: stop(signum)):
            stop(signum)

    return handler


_raise_stopped = stop_handler(_pending, Stopped, ignore_further=True)


def forget_stops() -> None:
    """A new command in this process (tests call :func:`imbexp.app.main` more than once)."""
    _pending.clear()
    _held.clear()


def pending_stop() -> Stopped | None:
    """The stop received whose exception nothing carried (a finalizer swallowed it), if any."""
    return Stopped(_pending[0]) if _pending else None


@dataclass
class _LastRun:
    run_id: str | None = None
    status: str | None = None


_last = _LastRun()


@contextlib.contextmanager
def ends_killed_on_stop(run_id: str) -> Iterator[None]:
    """Around the body of an open MLflow run: a signal (or a KeyboardInterrupt, as a sweep's
    trial gets on Ctrl-C) ends it KILLED instead of the FAILED of MLflow's run context."""
    import mlflow

    _last.run_id, _last.status = run_id, "RUNNING"
    try:
        yield
    except (Stopped, KeyboardInterrupt) as stop:
        # a sweep's own stop carries its signal too (SIGTERM to a sweep stops its trial as well)
        signum = stop.signum if isinstance(stop, Stopped) else getattr(stop, "signum", signal.SIGINT)
        reason = signal.Signals(signum).name
        active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            with contextlib.suppress(Exception):  # the status below matters more than the tag
                mlflow.set_tag(names.STOP_REASON_TAG, reason)
            mlflow.end_run("KILLED")
            _last.status = "KILLED"
        raise
    except BaseException:
        _last.status = "FAILED"
        raise
    _last.status = "FINISHED"


def exit_stopped(stop: Stopped, grid_parent: str | None = None) -> NoReturn:
    """The command's end after SIGINT or SIGTERM: one line, the shell's exit code."""
    if "mlflow" in sys.modules:  # stopped between MLflow opening the run and the body starting
        import mlflow

        with contextlib.suppress(Exception):
            active = mlflow.active_run()
            if active is not None:
                mlflow.set_tag(names.STOP_REASON_TAG, stop.name)
                mlflow.end_run("KILLED")
                _last.run_id, _last.status = active.info.run_id, "KILLED"
    if _last.run_id is None:
        outcome = "before its MLflow run started"
    elif _last.status == "KILLED":
        outcome = f"run {_last.run_id} marked KILLED"
    else:
        outcome = f"run {_last.run_id} had ended {_last.status}"
    if grid_parent:
        outcome += f"; grid parent run {grid_parent} marked KILLED"
    print(f"imbexp: stopped by {stop.name}; {outcome}", file=sys.stderr, flush=True)
    sys.exit(stop.exit_code)


# -- runs whose process is gone ----------------------------------------------------------------
@dataclass(frozen=True)
class RunningRun:
    """A RUNNING run and what this host can tell about its process."""

    run_id: str
    experiment_id: str
    name: str
    host: str | None
    pid: int | None
    start_time: float  # seconds since the epoch
    #: "alive", "gone" (this host, no such process), "reused" (this host, the pid is a later
    #: process), "other host" or "untracked" (no host and pid tags: a sweep's parent, an older run)
    state: str

    @property
    def dead(self) -> bool:
        return self.state in ("gone", "reused")

    def age_hours(self, now: float | None = None) -> float:
        return ((now or time.time()) - self.start_time) / 3600

    def where(self) -> str:
        return f"pid {self.pid} on {self.host}" if self.host else "no host recorded"


def process_state(tags: dict[str, str], start_time: float, host: str | None = None) -> str:
    """Whether the process named by a run's tags is still the one running it (see
    :class:`RunningRun`'s ``state``)."""
    import psutil

    run_host, pid = tags.get(names.HOST_TAG), tags.get(names.PID_TAG, "")
    if not run_host or not pid.isdigit():
        return "untracked"
    if run_host != (host or socket.gethostname()):
        return "other host"
    if int(pid) == os.getpid():
        return "alive"
    try:
        process = psutil.Process(int(pid))
        started = process.create_time()
        if process.status() == psutil.STATUS_ZOMBIE:  # ended, not yet reaped by its parent
            return "gone"
    except psutil.NoSuchProcess:
        return "gone"
    except psutil.AccessDenied:  # another user's process: it exists, its start time is hidden
        return "alive"
    recorded = tags.get(names.PROCESS_START_TAG)
    try:
        if recorded is not None:
            return "alive" if abs(started - float(recorded)) <= _START_SLACK_SECONDS else "reused"
    except ValueError:
        pass
    return "alive" if started <= start_time + _START_SLACK_SECONDS else "reused"


def running_runs(client: Any, experiment_ids: Iterable[str]) -> list[RunningRun]:
    """The RUNNING runs of these experiments (one search), each with its process's state."""
    ids = list(experiment_ids)
    if not ids:
        return []
    found = client.search_runs(ids, filter_string="attributes.status = 'RUNNING'", max_results=1000)
    host = socket.gethostname()
    runs = []
    for run in found:
        tags = run.data.tags
        pid = tags.get(names.PID_TAG, "")
        start = (run.info.start_time or 0) / 1000
        runs.append(RunningRun(run.info.run_id, run.info.experiment_id, run.info.run_name or "",
                               tags.get(names.HOST_TAG), int(pid) if pid.isdigit() else None, start,
                               process_state(tags, start, host)))
    return runs


def to_close(runs: Iterable[RunningRun], stale_after_hours: float | None = None) -> list[RunningRun]:
    """The runs no process will end: dead on this host, or (when ``stale_after_hours`` is set)
    older than that on another host or with no host recorded."""
    now = time.time()
    return [run for run in runs
            if run.dead or (stale_after_hours is not None and run.state in ("other host", "untracked")
                            and run.age_hours(now) > stale_after_hours)]


def close(client: Any, runs: Iterable[RunningRun]) -> list[RunningRun]:
    """Mark the runs KILLED, each with the reason as a tag; returns those closed."""
    closed = []
    for run in runs:
        reason = (f"its process ({run.where()}) was gone" if run.dead
                  else f"still RUNNING after {run.age_hours():.1f} h ({run.where()})")
        try:
            client.set_tag(run.run_id, names.STOP_REASON_TAG, f"closed by a later imbexp command: {reason}")
            client.set_terminated(run.run_id, "KILLED")
        except Exception as exc:  # deleted meanwhile, or closed by another command first
            log.debug("run %s not closed: %s", run.run_id, exc)
            continue
        closed.append(run)
    return closed


def summary_line(closed: list[RunningRun]) -> str:
    """One line naming what was closed."""
    shown = ", ".join(f"{run.run_id} ({run.where()})" for run in closed[:5])
    more = f" and {len(closed) - 5} more" if len(closed) > 5 else ""
    return (f"imbexp: marked {len(closed)} run(s) KILLED that were left RUNNING by a process that is "
            f"gone: {shown}{more}")


_checked: set[tuple[str, str]] = set()


def close_dead_runs(uri: str, experiment_id: str, stale_after_hours: float | None = None) -> list[RunningRun]:
    """At the start of a command: close the experiment's runs whose process is gone, once per
    process and store (a sweep's trials share it). Never fails the command that called it."""
    if (uri, experiment_id) in _checked:
        return []
    _checked.add((uri, experiment_id))
    try:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        hours = None if stale_after_hours is None else float(stale_after_hours)
        closed = close(client, to_close(running_runs(client, [experiment_id]), hours))
    except Exception as exc:  # a busy store: the next command tries again
        log.debug("runs left RUNNING were not checked: %s", exc)
        return []
    if closed:
        log.warning(summary_line(closed))
    return closed
