"""The sweep's MLflow runs: one parent per study, one pre-created child per trial."""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from imbexp import names

log = logging.getLogger("imbexp")


def _client():
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def find_or_create_parent(study: optuna.Study, experiment_id: str, tags: dict[str, str],
                          given: str | None = None) -> str:
    """The study's parent run: ``given`` (a worker is told it), the one recorded in the study
    (a resumed study, or another machine's sweep), or a new one. Re-opens a finished parent,
    so a study keeps one parent run across resumes."""
    client = _client()
    run_id = given or study.user_attrs.get(names.STUDY_PARENT_RUN_ATTR)
    if run_id:
        try:
            run = client.get_run(run_id)
        except Exception:  # deleted, or another tracking store
            run = None
        if run is not None and run.info.experiment_id == experiment_id and run.info.lifecycle_stage == "active":
            if run.info.status != "RUNNING":
                client.update_run(run_id, status="RUNNING")
            return run_id
    run = client.create_run(experiment_id, run_name=f"optuna · {study.study_name}"[:250],
                            tags={**tags, names.SWEEP_TAG: "optuna", names.STUDY_NAME_TAG: study.study_name})
    # Sweeps started at the same moment (several machines) may each create one. They agree on
    # the oldest, which exists before any of them looks; the others delete their own.
    rivals = client.search_runs(
        [experiment_id], max_results=100, order_by=["attributes.start_time ASC"],
        filter_string=f"tags.`{names.STUDY_NAME_TAG}` = '{study.study_name}' and tags.`{names.SWEEP_TAG}` = "
                      "'optuna' and attributes.status = 'RUNNING'")
    parents = [r for r in rivals if names.PARENT_RUN_TAG not in r.data.tags]
    winner = min(parents, key=lambda r: (r.info.start_time, r.info.run_id)) if parents else run
    if winner.info.run_id != run.info.run_id:
        client.set_terminated(run.info.run_id, "KILLED")  # not left RUNNING, even in the bin
        client.delete_run(run.info.run_id)
    else:
        study.set_user_attr(names.STUDY_PARENT_RUN_ATTR, run.info.run_id)
    return winner.info.run_id


def create_child(experiment_id: str, parent_id: str, trial: optuna.Trial, study_name: str) -> str:
    run = _client().create_run(experiment_id, run_name=f"trial {trial.number}", tags={
        names.PARENT_RUN_TAG: parent_id,
        names.TRIAL_NUMBER_TAG: str(trial.number),
        names.STUDY_NAME_TAG: study_name,
        names.SWEEP_TAG: "optuna",
    })
    trial.set_user_attr(names.TRIAL_RUN_ATTR, run.info.run_id)
    trial.set_user_attr(names.TRIAL_PARENT_RUN_ATTR, parent_id)
    return run.info.run_id


def end_child(run_id: str, status: str) -> None:
    """Terminate a child the job left RUNNING (an error before its run opened, or Ctrl-C), and
    mark FAILED a run the job finished but whose value the study rejected (NaN)."""
    client = _client()
    try:
        current = client.get_run(run_id).info.status
    except Exception as exc:
        log.warning("MLflow run %s cannot be read (%s)", run_id, exc)
        return
    if current == "RUNNING" or (status == "FAILED" and current == "FINISHED"):
        client.set_terminated(run_id, status)


def fail_dead_trial_run(study: optuna.Study, trial: FrozenTrial) -> None:
    """Heartbeat callback: a trial whose worker died leaves its MLflow run FAILED, not RUNNING."""
    run_id = trial.user_attrs.get(names.TRIAL_RUN_ATTR)
    if run_id:
        end_child(str(run_id), "FAILED")


def child_metrics(parent_id: str, experiment_id: str) -> dict[str, dict[str, Any]]:
    """The children's metrics and status by run id."""
    client = _client()
    found: dict[str, dict[str, Any]] = {}
    token = None
    while True:
        page = client.search_runs([experiment_id], filter_string=f"tags.`{names.PARENT_RUN_TAG}` = '{parent_id}'",
                                  max_results=1000, page_token=token)
        for run in page:
            found[run.info.run_id] = {**run.data.metrics, "status": run.info.status}
        token = page.token
        if not token:
            return found
