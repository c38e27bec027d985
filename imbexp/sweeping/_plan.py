"""The sweep's plan: everything derived from the user's config that can fail, decided before any
trial runs, so that a mistake is one sentence (a :class:`~imbexp.errors.ConfigError`) and the loop
in :mod:`imbexp.sweeping._impl` only asks, launches and tells.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Callable

import optuna
from omegaconf import DictConfig

from imbexp import components, models, tracking
from imbexp.config import Objective, validate
from imbexp.errors import ConfigError
from imbexp.run import build_strategy
from imbexp.sweeping import _budget, _fingerprint, _mlflow, _pruning, _study, _warmstart
from imbexp.sweeping._constraints import Constraint, check_logged, parse_constraints
from imbexp.sweeping._samplers import make_sampler, sampler_name
from imbexp.sweeping._settings import SweepSettings
from imbexp.sweeping._space import SearchSpace, check_keys, parse_search_space, resolve_class_maps

log = logging.getLogger("imbexp")

#: ``custom_search_space``: adds ``trial.suggest_*`` calls given the sweep's config
CustomSpace = Callable[[DictConfig, optuna.Trial], None]


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """What one sweep process runs: the validated settings and what follows from them."""

    settings: SweepSettings
    config: DictConfig  # the sweep's config (the trials' configs are composed from it)
    space: SearchSpace
    custom: CustomSpace | None
    objective: Objective  # with the fixed params applied, as every trial gets it
    directions: list[str]
    n_trials: int  # the study's COMPLETE total (capped at the grid's size for sampler=grid)
    sampler_name: str
    study_name: str
    storage: optuna.storages.RDBStorage
    storage_label: str  # the storage URL without its password
    study: optuna.Study
    experiment_id: str
    pruner: str = "none"  # the pruner the trials report to (none when nothing can be pruned)
    # -- one study, one experiment (_constraints.py, _warmstart.py)
    constraints: tuple[Constraint, ...] = ()

    @property
    def is_grid(self) -> bool:
        return self.sampler_name == "grid"

    @property
    def heartbeats(self) -> bool:
        return self.storage.get_heartbeat_interval() is not None


def make_plan(settings: SweepSettings, config: DictConfig, arguments: list[str],
              compose: Callable[[list[str]], DictConfig], is_group: Callable[[str], bool],
              worker_index: int = 0) -> SweepPlan:
    """Check the sweep's config and open its study and MLflow experiment.

    ``compose(overrides)`` returns the config a trial with those overrides would get and
    ``is_group(name)`` tells config groups from keys (the Hydra plugin passes Hydra's; tests can
    pass their own); ``worker_index`` offsets a seeded sampler so workers draw different points.
    """
    settings.validate()
    models.threads()  # a bad IMBEXP_THREADS is one sentence before anything is created
    space = parse_search_space(settings.params, arguments, settings.conditional_params)
    resolve_class_maps(space, compose)  # strategy.<factor>.<class> keys become one mapping override
    # the objective every trial will get, fixed params (e.g. objective.metric) applied
    job_config = compose(space.fixed_overrides()) if space.fixed else config
    # what every trial shares is checked once, before the study and the parent run exist: a typo
    # (+objective.metrik, +model.estimator.n_estimatorz) is one sentence and exit 2, not n failed trials
    objective = validate(job_config)
    models.build_model(job_config.model, 0, strategy=build_strategy(job_config.strategy))
    directions = _study.resolve_directions(settings.direction, objective)
    custom = _custom_space(settings.custom_search_space)
    pruner = _pruning.make_pruner(settings.pruner, directions)
    if not space.params and custom is None:
        raise ConfigError("hydra.sweeper.params is empty; list at least one key to search, e.g. "
                          "strategy.downsample_factor: tag(log, interval(1, 100)).")
    check_keys(space, compose, is_group)

    name = sampler_name(settings.sampler)
    n_trials = settings.n_trials
    if name == "grid":
        size = space.grid_size()
        if size < n_trials:
            log.info("sweep: the grid has %d points; n_trials %d -> %d", size, n_trials, size)
            n_trials = size

    choices = dict(config.hydra.runtime.choices) if "hydra" in config else {}
    study_name = settings.study_name or _study.default_study_name(
        choices, config.dataset.get("name") if "dataset" in config else None, space.names)
    storage = _study.open_storage(settings.storage, settings.heartbeat_interval, _retry_dead(settings.max_retry))
    existing = 0
    try:
        existing = len(storage.get_all_trials(storage.get_study_id_from_name(study_name), deepcopy=False))
    except KeyError:
        pass
    # unless hydra.sweeper.sampler.seed is given, the sampler follows the top-level seed: an
    # unseeded sampler drew other trials on each fresh study of the same command
    top_seed = config.get("seed")
    sampler = make_sampler(settings.sampler, space, len(directions), seed_offset=1000 * worker_index + existing,
                           default_seed=None if top_seed is None else int(top_seed))
    study = _study.load_study(storage, study_name, directions, sampler)
    pruner_name = _pruning.use_pruner(study, pruner, settings.pruner, job_config, say=worker_index == 0)
    _study.check_space_conflicts(study, space)
    constraints = _prepare_experiment(settings, study, storage, space, job_config, directions, objective, name)
    if constraints and pruner_name != "none" and worker_index == 0:  # once for the sweep, not per worker
        print(f"[sweep] {_pruning.with_constraints(pruner_name)}", flush=True)
    experiment_id = tracking.connect(str(config.tracking.uri), tracking.default_experiment(config))
    return SweepPlan(settings=settings, config=config, space=space, custom=custom, objective=objective,
                     directions=directions, n_trials=n_trials, sampler_name=name, study_name=study_name,
                     storage=storage, storage_label=tracking.redact(settings.storage or _study.default_storage()),
                     study=study, experiment_id=experiment_id, pruner=pruner_name, constraints=constraints)


def _prepare_experiment(settings: SweepSettings, study: optuna.Study, storage: optuna.storages.RDBStorage,
                        space: SearchSpace, job_config: DictConfig, directions: list[str], objective: Objective,
                        sampler: str) -> tuple[Constraint, ...]:
    """What makes a study one experiment: its fingerprint checked (or recorded), the objective's
    names for optuna-dashboard, and the baseline queued first; returns the parsed constraints."""
    constraints = tuple(parse_constraints(settings.constraints))
    check_logged(constraints, job_config.get("dataset") or {})
    _budget.check_target(settings.target, directions)
    _fingerprint.check(storage, study, _fingerprint.fingerprint(job_config, space, [c.text for c in constraints]))
    if study.metric_names != list(objective.keys):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(objective.keys))
    if settings.baseline and sampler != "grid":  # a grid holds its points; the baseline is one if listed
        _warmstart.enqueue_baseline(study, storage, space)
    return constraints


def _custom_space(path: str | None) -> CustomSpace | None:
    if not path:
        return None
    function = components.locate(path, "hydra.sweeper.custom_search_space")
    if not callable(function):
        raise ConfigError(f"hydra.sweeper.custom_search_space={path!r} is not allowed; give a "
                          "module.function(cfg, trial).")
    return function


def _retry_dead(max_retry: int) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    """The heartbeat's callback for a trial whose worker died: its MLflow run is failed, and the
    trial is queued again (at most ``max_retry`` times)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def on_dead_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        _mlflow.fail_dead_trial_run(study, trial)
        retry(study, trial)

    return on_dead_trial
