"""Hydra callbacks: group the runs of a grid sweep (``-m a=x,y``) under one MLflow parent run."""

from __future__ import annotations

import logging
import os
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("imbexp")

#: sweepers that create their own parent run
SELF_TRACKING_SWEEPERS = ("hydra_plugins.imbexp_sweeper.", "imbexp.sweeping.")


class SweepParentRun(Callback):
    """Open a parent run when a multirun starts and close it when the multirun ends.

    The runs launched in this process nest under it through :data:`imbexp.tracking.PARENT_RUN_ENV`.
    imbexp's Optuna sweeper manages its own parent run, so this callback stands aside for it.
    """

    def __init__(self) -> None:
        self._run_id: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        target = str(config.hydra.sweeper.get("_target_", ""))
        if target.startswith(SELF_TRACKING_SWEEPERS) or config.tracking.get("parent_run_id"):
            return
        from mlflow.tracking import MlflowClient

        from imbexp import names, tracking

        experiment_id = tracking.connect(str(config.tracking.uri), tracking.default_experiment(config))
        overrides = " ".join(config.hydra.overrides.task)
        run = MlflowClient().create_run(
            experiment_id,
            run_name=f"grid · {overrides}"[:250] if overrides else "grid",
            tags={names.SWEEP_TAG: "grid", names.OVERRIDES_TAG: tracking.redact(overrides)[:5000]},
        )
        self._run_id = run.info.run_id
        os.environ[tracking.PARENT_RUN_ENV] = self._run_id
        log.info("grid sweep: parent MLflow run %s", self._run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._run_id is None:
            return
        from mlflow.tracking import MlflowClient

        from imbexp import tracking

        os.environ.pop(tracking.PARENT_RUN_ENV, None)
        client = MlflowClient()
        children = client.search_runs(
            [client.get_run(self._run_id).info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{self._run_id}'",
        )
        failed = sum(run.info.status != "FINISHED" for run in children)
        client.log_metric(self._run_id, "runs", len(children))
        client.log_metric(self._run_id, "runs_failed", failed)
        try:
            from imbexp.report import write_report

            write_report(str(config.tracking.uri), parent_run_id=self._run_id)
        except Exception as exc:  # the runs are tracked; a missing report must not fail the sweep
            log.warning("grid sweep: the report could not be written: %s", exc)
        client.set_terminated(self._run_id, "FAILED" if failed == len(children) else "FINISHED")
        log.info("grid sweep: %d runs under parent %s (%s)", len(children), self._run_id,
                 tracking.ui_hint(str(config.tracking.uri)))
