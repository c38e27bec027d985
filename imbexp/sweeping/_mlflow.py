"""The sweep's MLflow runs: one parent per study, one pre-created child per trial."""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from imbexp import names
from imbexp.sweeping import _study

log = logging.getLogger("imbexp")


def _client():
    from mlflow.tracking import MlflowClient

    return MlflowClient()


#: tries at recording a parent run while other commands replace a stale one at the same moment
ELECTION_ATTEMPTS = 5


def find_or_create_parent(study: optuna.Study, storage: optuna.storages.RDBStorage, experiment_id: str,
                          tags: dict[str, str], given: str | None = None) -> str:
    """The study's parent run: ``given`` (a worker is told it), the one recorded in the study
    (a resumed study, or another machine's sweep), or a new one. Re-opens a finished parent,
    so a study keeps one parent run across resumes.

    Commands started at the same moment on a new study each create a run; the study records
    one of them atomically (:func:`~imbexp.sweeping._study.set_user_attr_if`), and the others
    delete the run they created, and only that, and adopt the recorded one.
    """

    from imbexp.errors import ImbexpError
    from imbexp.lifecycle import process_tags

    client = _client()
    if given and _reopen(client, given, experiment_id):
        return given
    # the sweep command holding the parent: a later command on this host closes it (KILLED)
    # once that process is gone (kill -9 of the leader), as it closes any run's
    owner = process_tags()
    for _ in range(ELECTION_ATTEMPTS):
        recorded = study.user_attrs.get(names.STUDY_PARENT_RUN_ATTR)
        if recorded and _reopen(client, str(recorded), experiment_id):
            _take_over_if_unheld(client, str(recorded), owner)
            return str(recorded)
        run = client.create_run(experiment_id, run_name=f"optuna · {study.study_name}"[:250],
                                tags={**tags, **owner, names.SWEEP_TAG: "optuna",
                                      names.STUDY_NAME_TAG: study.study_name})
        if _study.set_user_attr_if(storage, study._study_id, names.STUDY_PARENT_RUN_ATTR,
                                   str(recorded) if recorded else None, run.info.run_id):
            return run.info.run_id
        client.set_terminated(run.info.run_id, "KILLED")  # not left RUNNING, even in the bin
        client.delete_run(run.info.run_id)
    raise ImbexpError(f"study {study.study_name!r} records no usable MLflow parent run after "
                      f"{ELECTION_ATTEMPTS} tries; other commands keep replacing it. Start the sweep again.")


def _take_over_if_unheld(client, run_id: str, owner: dict[str, str]) -> None:
    """Record this command as the parent's holder unless a live process on this host (another
    sweep command still running the study) holds it: a command joining a running sweep must not
    make the parent look abandoned when it, the joiner, ends first."""
    from mlflow.entities import RunTag

    from imbexp.lifecycle import process_state

    run = client.get_run(run_id)
    if process_state(run.data.tags, run.info.start_time / 1000) == "alive" and \
            run.data.tags.get(names.PID_TAG) != owner[names.PID_TAG]:
        return
    client.log_batch(run_id, tags=[RunTag(key, value) for key, value in owner.items()])


def _reopen(client, run_id: str, experiment_id: str) -> bool:
    """Whether ``run_id`` is an active run of this experiment, set RUNNING if it was finished."""
    try:
        run = client.get_run(run_id)
    except Exception:  # deleted for good, or another tracking store
        return False
    if run.info.experiment_id != experiment_id or run.info.lifecycle_stage != "active":
        return False
    if run.info.status != "RUNNING":
        client.update_run(run_id, status="RUNNING")
    return True


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
    """Terminate a child the job left RUNNING (an error before its run opened, or Ctrl-C), mark
    FAILED a run the job finished but whose value the study rejected (NaN), and KILLED a run an
    interrupt ended (MLflow's own run context closes it FAILED on any exception) or a run whose
    job finished just before the stop, when its trial could not be told and is failed with it."""
    client = _client()
    try:
        current = client.get_run(run_id).info.status
    except Exception as exc:
        log.warning("MLflow run %s cannot be read (%s)", run_id, exc)
        return
    if current == "RUNNING" or (status in ("FAILED", "KILLED") and current == "FINISHED") or \
            (status == "KILLED" and current == "FAILED"):
        try:
            client.set_terminated(run_id, status)
        except Exception as exc:  # the store is gone or locked past its wait: the sweep's own clean-up goes on
            log.warning("MLflow run %s could not be marked %s (%s); python -m imbexp.runs close ends it "
                        "once this command is gone", run_id, status, str(exc).splitlines()[0][:300])


def end_parent(run_id: str, status: str) -> None:
    """Close the sweep's parent run (KILLED, FAILED or FINISHED)."""
    _client().set_terminated(run_id, status)


def fail_dead_trial_run(study: optuna.Study, trial: FrozenTrial) -> None:
    """Heartbeat callback: a trial whose worker died leaves its MLflow run KILLED, not RUNNING.

    KILLED, as every other run whose process is gone (a single run after kill -9, a trial found dead
    by the host:pid check, which often sees it before the heartbeat does): one status for one event,
    whichever check sees it first. FAILED stays for a run whose job raised."""
    run_id = trial.user_attrs.get(names.TRIAL_RUN_ATTR)
    if run_id:
        end_child(str(run_id), "KILLED")


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
