"""The names other processes and stored records rely on, in one place: the environment variables a
sweep hands to its worker processes, the Optuna study and trial attributes, and the MLflow tags.

A sweep's leader and its workers, another machine joining the same study, the report and a
user's own scripts reading MLflow all match on these strings, so each is written once.
"""

# -- environment variables ------------------------------------------------------------------------
#: model threads per process (a whole number >= 1); set by parallel sweeps unless the user did
THREADS_ENV = "IMBEXP_THREADS"
#: set to "1" beside IMBEXP_THREADS when the sweep chose the threads (the user did not)
THREADS_BY_SWEEP_ENV = "IMBEXP_THREADS_BY_SWEEP"
#: the MLflow parent run a grid (Hydra's basic sweeper) nests its runs under
GRID_PARENT_RUN_ENV = "IMBEXP_PARENT_RUN_ID"
#: set in a worker process a sweep started: its index (1, 2, ...)
SWEEP_WORKER_ENV = "IMBEXP_SWEEP_WORKER"
#: the sweep's parent MLflow run, handed to its workers
SWEEP_PARENT_RUN_ENV = "IMBEXP_SWEEP_PARENT_RUN_ID"
#: one id per sweep command (shared with its workers): the failures it caused are its own
SWEEP_SESSION_ENV = "IMBEXP_SWEEP_SESSION"
#: the pid of the sweep command that started a worker: a worker never outlives it
SWEEP_LEADER_PID_ENV = "IMBEXP_SWEEP_LEADER_PID"
#: the leader's Hydra sweep folder, so a worker's trial folders land beside the leader's
SWEEP_DIR_ENV = "IMBEXP_SWEEP_DIR"
#: a short hash of the MLflow server URI that answered this command's reachability probe; the
#: processes it starts (a sweep's workers) inherit it and keep MLflow's retries for that server
TRACKING_ANSWERED_ENV = "IMBEXP_TRACKING_ANSWERED"

# -- Optuna study and trial user attributes -------------------------------------------------------
#: study: the parent MLflow run, so every worker and every resumed sweep finds it
STUDY_PARENT_RUN_ATTR = "mlflow_parent_run_id"
#: trial: its MLflow child run (DESIGN.md's tracking contract)
TRIAL_RUN_ATTR = "mlflow_run_id"
#: trial: the parent MLflow run it belongs to
TRIAL_PARENT_RUN_ATTR = "imbexp.parent_run_id"
#: trial: the sweep command (session) that ran it
TRIAL_SESSION_ATTR = "imbexp.sweep_session"
#: trial: ``host:pid`` of the process that ran it
TRIAL_WORKER_ATTR = "imbexp.worker"
#: trial: why its job failed (a job error, not a dead worker)
TRIAL_FAIL_REASON_ATTR = "fail_reason"
#: trial: the step (fold) at which ``hydra.sweeper.pruner`` stopped it
TRIAL_PRUNED_ATTR = "imbexp.pruned_at_step"

# -- MLflow tags ----------------------------------------------------------------------------------
#: Optuna's parent and child runs: "optuna"; a grid's parent: "grid"
SWEEP_TAG = "imbexp.sweep"
#: a grid parent's command-line overrides
OVERRIDES_TAG = "imbexp.overrides"
#: the objective's metric key(s), comma-separated
OBJECTIVE_TAG = "imbexp.objective"
STUDY_NAME_TAG = "optuna.study_name"
TRIAL_NUMBER_TAG = "optuna.trial_number"
STORAGE_TAG = "optuna.storage"
SAMPLER_TAG = "optuna.sampler"
DIRECTIONS_TAG = "optuna.directions"
#: MLflow's own nesting tag
PARENT_RUN_TAG = "mlflow.parentRunId"
#: on the sweep's parent run once trials are complete
BEST_TRIAL_TAG = "best_trial_number"
BEST_RUN_TAG = "best_run_id"
#: prefix of the best trial's parameters on the parent run (``best.<key>``)
BEST_PARAM_TAG_PREFIX = "best."
# paired comparisons and repeated seeds (imbexp.compare):
#: the run a run's plain ``test_<m>_delta*`` metrics compare it with: its baseline (strategy=none,
#: the same data, model, split, seed and settings) ...
BASELINE_RUN_TAG = "imbexp.baseline_run_id"
#: ... or the run ``compare_to=<run id>`` named
COMPARED_TO_TAG = "imbexp.compared_to"
#: the same strategy at factor 1, compared under ``test_<m>_delta_vs_factor1*``
FACTOR1_RUN_TAG = "imbexp.factor1_run_id"
FACTOR1_SUFFIX = "_vs_factor1"
#: "true" on a baseline run a grid or sweep added because its experiment had none
BASELINE_TAG = "imbexp.baseline"
#: why a run has no deltas: its test rows have too few positives (no baseline run is added for it)
NO_DELTA_TAG = "imbexp.no_delta_reason"
#: a group run of ``repeats=k``: k, and on each of its seed runs the group's id and the index
#: i = 0..k-1 (its seed is the group's seed + i)
REPEATS_TAG = "imbexp.repeats"
REPEAT_GROUP_TAG = "imbexp.repeat_group"
REPEAT_TAG = "imbexp.repeat"
#: what a report groups and draws a run by, as its strategy states it: the label without the
#: factor and the factor's parameter name (tags), and the factor (a metric, so the MLflow UI
#: sorts and plots runs by it as a number)
LABEL_TAG = "imbexp.label"
FACTOR_NAME_TAG = "imbexp.factor_name"
FACTOR_METRIC = "imbexp.factor"
#: the machine and process that run a run (single runs, a sweep's trials, a grid's parent), and
#: that process's start time (seconds since the epoch): the next command on the store tells by
#: them whether a RUNNING run's process is gone (a pid alone is reused)
HOST_TAG = "imbexp.host"
PID_TAG = "imbexp.pid"
PROCESS_START_TAG = "imbexp.process_start"
#: why a run ended KILLED: the signal that stopped it, or the next command finding its process gone
STOP_REASON_TAG = "imbexp.stop_reason"
#: a run's test intervals: which method each metric's 95 % interval uses (intervals.method_summary),
#: or, when none could be given, why (too few test positives or negatives)
INTERVAL_METHODS_TAG = "imbexp.interval_methods"
NO_INTERVALS_TAG = "imbexp.no_intervals"
#: a multi-class run's class labels in code order (a JSON list); binary runs have none
CLASSES_TAG = "imbexp.classes"
#: how a multi-class run decided (threshold.multiclass), in one line
MULTICLASS_DECISION_TAG = "imbexp.decision"
#: on a run whose intervals rest on few test positives (intervals.rough): what their coverage was
INTERVALS_NOTE_TAG = "imbexp.intervals_note"
#: a run on a dataset's own columns (docs/data.md): what each part of a split by groups or time
#: holds; that the dataset's row weights weighted the training only; how its row costs were used
SPLIT_PARTS_TAG = "imbexp.split_parts"
ROW_WEIGHTS_TAG = "imbexp.row_weights"
ROW_COSTS_TAG = "imbexp.row_costs"
#: an anomaly detector's run (model=isolation_forest): the rows the detector was fitted on ("the
#: 1,234 negative training rows", "all 1,300 training rows"), and how its scores became probabilities
DETECTOR_FITTED_ON_TAG = "imbexp.detector_fitted_on"
SCORE_CALIBRATION_TAG = "imbexp.score_calibration"
#: "true" on a sweep trial's run (and a seed run of it) that hydra.sweeper.pruner stopped after
#: some folds: ended KILLED, with the folds done as its valid metrics and no test metrics
PRUNED_TAG = "imbexp.pruned"

# -- a study as one experiment (imbexp.sweeping: constraints, baseline, deduplication, fingerprint)
#: study user attribute: the JSON fingerprint of the settings its trials share (_fingerprint.py)
STUDY_FINGERPRINT_ATTR = "imbexp.fingerprint"
#: study user attribute: set once the study's baseline trial was queued, so a resume queues none
STUDY_BASELINE_ATTR = "imbexp.baseline_enqueued"
#: trial user attribute: the number of the COMPLETE trial with the same configuration whose value
#: this trial returns instead of running again
TRIAL_DUPLICATE_ATTR = "imbexp.duplicate_of"
#: a trial's run under hydra.sweeper.constraints: "true" / "false", and the constraints it broke
FEASIBLE_TAG = "imbexp.feasible"
VIOLATED_TAG = "imbexp.violated_constraints"
#: set by a sweep that is not verbose: its trials skip the single run's printed summary
QUIET_TRIALS_ENV = "IMBEXP_QUIET_TRIALS"


# -- config keys whose meaning runs and studies recorded earlier share ----------------------------
#: config keys added after runs and studies were recorded, with the value that does what a config
#: without them did: a study recorded before them resumes, and a run logged before them pairs
#: with a newer one, when they are at that value
ADDED_KEYS: dict[str, object] = {
    "dataset.classes": 2,
    "dataset.class_fractions": None,
    "dataset.eval_sample": None,
    "threshold.multiclass": "argmax",
    "threshold.cost_matrix": None,
}
#: config keys that change how a file is read, never what is read or scored (valid and test
#: predicted batch by batch give a whole read's scores): the same experiment whatever they are
READ_KEYS = ("dataset.batch_rows", "dataset.read_in_batches")
