"""Hydra callbacks: group the runs of a grid sweep (``-m a=x,y``) under one MLflow parent run."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from imbexp.errors import ImbexpError

log = logging.getLogger("imbexp")

#: sweepers that create their own parent run
SELF_TRACKING_SWEEPERS = ("hydra_plugins.imbexp_sweeper.", "imbexp.sweeping.")

#: the grid this process runs, while its parent run is open
_open_grid: SweepParentRun | None = None
#: set when a grid's parent was closed with failed jobs: the command's closing sentence
_failure: str | None = None
#: the grid parent a stop closed while it was being closed (comparing, the report)
_stopped_parent: str | None = None


def open_grid() -> SweepParentRun | None:
    """The grid whose parent run this process holds open, if any."""
    return _open_grid


def stopped_parent() -> str | None:
    """The grid parent run a Ctrl-C or SIGTERM marked KILLED as it was being closed, if any."""
    return _stopped_parent


def grid_failure() -> str | None:
    """One sentence when the grid this process ran had failed jobs, else None."""
    return _failure


class SweepParentRun(Callback):
    """Open a parent run when a multirun starts and close it when the multirun ends.

    The runs launched in this process nest under it through :data:`imbexp.tracking.PARENT_RUN_ENV`.
    imbexp's Optuna sweeper manages its own parent run, so this callback stands aside for it.

    Hydra's basic sweeper stops at the first failed job without calling ``on_multirun_end``, which
    left the parent RUNNING with no summary. So a job of the grid reports its error here
    (:meth:`job_failed`, from the app) instead of raising it, the grid goes on, and the parent
    ends FAILED with the summary and report of the jobs that finished; :func:`grid_failure` is
    the command's closing sentence. Whatever still ends the multirun early (Ctrl-C, a launcher in
    other processes) closes the parent through :meth:`close` from the app's entry point.
    """

    def __init__(self) -> None:
        self._run_id: str | None = None
        self._uri: str | None = None
        self._jobs = 0
        self._failures: list[str] = []
        self._common: set[str] = set()

    @property
    def run_id(self) -> str | None:
        return self._run_id

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _open_grid
        target = str(config.hydra.sweeper.get("_target_", ""))
        if target.startswith(SELF_TRACKING_SWEEPERS) or config.tracking.get("parent_run_id"):
            return
        from mlflow.tracking import MlflowClient

        from imbexp import lifecycle, names, tracking

        self._uri = str(config.tracking.uri)
        # what every job shares, so a failed job is named by what it sweeps (Hydra writes a
        # job's booleans capitalised)
        self._common = {override.lower() for override in config.hydra.overrides.task}
        experiment_id = tracking.connect(self._uri, tracking.default_experiment(config))
        lifecycle.close_dead_runs(self._uri, experiment_id, config.tracking.get("stale_after_hours"))
        overrides = " ".join(config.hydra.overrides.task)
        run = MlflowClient().create_run(
            experiment_id,
            run_name=f"grid · {overrides}"[:250] if overrides else "grid",
            tags={names.SWEEP_TAG: "grid", names.OVERRIDES_TAG: tracking.redact(overrides)[:5000],
                  **lifecycle.process_tags()},
        )
        self._run_id = run.info.run_id
        _open_grid = self
        os.environ[tracking.PARENT_RUN_ENV] = self._run_id
        log.info("grid sweep: parent MLflow run %s", self._run_id)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if self._run_id is not None:
            self._jobs += 1

    def job_failed(self, exc: BaseException, overrides: list[str]) -> None:
        """A job of this grid raised: recorded for the parent's summary, one line now."""
        from imbexp import tracking
        from imbexp.errors import ImbexpError, first_line

        reason = str(exc).strip() if isinstance(exc, ImbexpError) else f"{type(exc).__name__}: {first_line(exc)}"
        swept = [override for override in overrides if override.lower() not in self._common]
        job = tracking.redact(" ".join(swept or overrides)) or "(no overrides)"
        self._failures.append(f"{job}: {tracking.redact(reason)}")
        # a user's mistake in one line; anything else is a bug, whose traceback is wanted
        log.warning("grid job %s failed: %s", job, tracking.redact(reason).splitlines()[0][:500],
                    exc_info=None if isinstance(exc, ImbexpError) else exc)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.close()

    def close(self, status: str | None = None) -> None:
        """Close the parent: every finished run compared with its baseline (one added where the
        experiment has none), the jobs' counts, the report of the finished runs, and FINISHED,
        FAILED (a job failed) or ``status`` (KILLED after Ctrl-C). Once; later calls do nothing."""
        global _open_grid, _failure, _stopped_parent
        if self._run_id is None:
            return
        run_id, self._run_id = self._run_id, None
        _open_grid = None
        from mlflow.tracking import MlflowClient

        from imbexp import names, tracking

        os.environ.pop(tracking.PARENT_RUN_ENV, None)
        client = MlflowClient(self._uri)
        try:
            if status is None:  # not after a stop: comparing can take seconds per run
                _compare_with_baselines(str(self._uri), run_id)
            children = client.search_runs(
                [client.get_run(run_id).info.experiment_id],
                filter_string=f"tags.mlflow.parentRunId = '{run_id}'",
            )
            # a baseline run the comparisons added is no job of the grid
            added = [run for run in children if run.data.tags.get(names.BASELINE_TAG) == "true"]
            children = [run for run in children if run not in added]
            finished = sum(run.info.status == "FINISHED" for run in children)
            # a job refused before its run opened has no child run; one that failed after, has one
            jobs = max(self._jobs, len(children), finished + len(self._failures))
            failed = max(len(self._failures), len(children) - finished)
            client.log_metric(run_id, "runs", jobs)
            client.log_metric(run_id, "runs_failed", failed)
            if added:
                client.log_metric(run_id, "baselines_added", len(added))
            if self._failures:
                client.log_text(run_id, "\n".join(self._failures) + "\n", "failed_jobs.txt")
            if finished:
                try:
                    from imbexp.report import write_report

                    write_report(str(self._uri), parent_run_id=run_id,
                                 parent_status=status or ("FAILED" if failed else "FINISHED"))
                except Exception as exc:  # the runs are tracked; a missing report must not fail the sweep
                    log.warning("grid sweep: the report could not be written: %s", exc)
        except BaseException as exc:  # Ctrl-C in the report, a store error: not left RUNNING
            with contextlib.suppress(Exception):
                client.set_terminated(run_id, status or ("FAILED" if isinstance(exc, Exception) else "KILLED"))
            if not isinstance(exc, Exception):
                _stopped_parent = run_id
            raise
        final = status or ("FAILED" if failed else "FINISHED")
        client.set_terminated(run_id, final)
        log.info("grid sweep: %d runs under parent %s (%s)", jobs, run_id, tracking.ui_hint(str(self._uri)))
        if failed and status is None:
            first = f" (first: {self._failures[0].splitlines()[0][:300]})" if self._failures else ""
            _failure = (f"{failed} of {jobs} grid jobs failed{first}; parent run {run_id} marked FAILED "
                            f"with the summary and report of the {finished} that finished.")


def _compare_with_baselines(uri: str, parent_id: str) -> None:
    """The grid's runs against their baselines (:func:`imbexp.compare.compare_children`), and the
    table of each configuration against its baseline. A baseline the experiment lacks is run here,
    in this process, nested under the grid's parent."""
    from imbexp import compare, tracking

    try:
        compare.compare_children(uri, parent_id, run_one=tracking.run_as_sweep_job, what="grid")
    except Exception as exc:  # the runs are tracked; missing deltas must not fail the grid
        log.warning("grid sweep: the runs were not compared with their baselines: %s", exc,
                    exc_info=not isinstance(exc, ImbexpError))
