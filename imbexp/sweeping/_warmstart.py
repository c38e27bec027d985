"""Warm start and thrift: the baseline trial first, and no configuration run twice.

Every comparison imbexp makes is against the baseline (``strategy=none``, or factor 1 for a
downsample / upweight factor; DESIGN.md), so the study's first trial is that baseline, queued
once per study (a study attribute remembers it, so a resume or a second machine queues none).

A sampler can draw a configuration it has run already: ``sweep=strategies`` drew
``strategy=none``, which has no parameters of its own, as trials 1 and 2 (95 s each). With a
fixed seed the same configuration gives the same value, so such a trial is told the stored
value (and constraints) instead of running, and carries the original's number as a user
attribute. A configuration the pruner stopped is answered PRUNED the same way: it would report
the same folds again and be stopped again, and run on every draw if it were not answered.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from imbexp import names
from imbexp.sweeping._space import SearchSpace
from imbexp.sweeping._study import set_user_attr_if

log = logging.getLogger("imbexp")

#: searched keys whose value 1 is the baseline ("no rebalancing")
FACTOR_SUFFIXES = ("downsample_factor", "upweight_factor")


def _contains(distribution: BaseDistribution, value: Any) -> bool:
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (TypeError, ValueError):
        return False


def baseline_params(space: SearchSpace) -> dict[str, Any]:
    """The baseline's values of the searched parameters: ``strategy=none`` where the strategy is
    searched, else factor 1 for each searched downsample / upweight factor; ``{}`` when the
    space holds no baseline (no such parameter, or a factor whose range leaves out 1)."""
    unconditional = [p for p in space.params if p.condition is None]
    for param in unconditional:
        if param.name == "strategy" and isinstance(param.distribution, CategoricalDistribution) \
                and "none" in param.distribution.choices:
            return {"strategy": "none"}
    params: dict[str, Any] = {}
    for param in unconditional:
        if param.name.endswith(FACTOR_SUFFIXES):
            one = 1 if isinstance(getattr(param.distribution, "low", None), int) else 1.0
            if isinstance(param.distribution, CategoricalDistribution):
                one = next((c for c in param.distribution.choices if c == 1), None)
            if one is None or not _contains(param.distribution, one):
                return {}  # a factor that cannot be 1: no trial of this space is the baseline
            params[param.name] = one
    return params


def enqueue_baseline(study: optuna.Study, storage: optuna.storages.RDBStorage, space: SearchSpace) -> bool:
    """Queue the baseline trial once per study, as its first; whether this command queued it."""
    params = baseline_params(space)
    if not params or names.STUDY_BASELINE_ATTR in study.user_attrs:
        return False
    # A study that has trials but no mark was made before baselines were queued: queued now, the
    # baseline would run a finished study again. It is marked (null: none queued) instead.
    fresh = not storage.get_all_trials(study._study_id, deepcopy=False)
    # commands starting together on a new study: the database lets one of them queue it
    marked = set_user_attr_if(storage, study._study_id, names.STUDY_BASELINE_ATTR, None,
                              json.dumps(params if fresh else None))
    if not marked or not fresh:
        return False
    study.enqueue_trial(params, skip_if_exists=True)
    return True


def stored_duplicate(study: optuna.Study, trial: optuna.Trial) -> FrozenTrial | None:
    """The trial with exactly this trial's parameters that completed, or else one the pruner
    stopped (a grid's duplicate point, also PRUNED, ran nothing and is not one), if there is one."""
    params = trial.params
    pruned = None
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if other.number == trial.number or other.params != params:
            continue
        if other.state == TrialState.COMPLETE:
            return other
        if pruned is None and names.TRIAL_PRUNED_ATTR in other.user_attrs:
            pruned = other
    return pruned


def tell_stored(study: optuna.Study, trial: optuna.Trial, original: FrozenTrial) -> None:
    """Finish ``trial`` as ``original`` finished: its values (and constraints), or PRUNED at the
    same step. The original's reported values are reported again, so the pruners (the Wilcoxon
    pruner pairs a trial's folds with the best trial's) see the copy as they saw the original."""
    trial.set_user_attr(names.TRIAL_DUPLICATE_ATTR, original.number)
    for step, value in sorted(original.intermediate_values.items()):  # none in a multi-objective study
        trial.report(value, step)
    if original.state == TrialState.PRUNED:
        trial.set_user_attr(names.TRIAL_PRUNED_ATTR, original.user_attrs[names.TRIAL_PRUNED_ATTR])
        study.tell(trial, state=TrialState.PRUNED)
        return
    for key, value in original.constraints.items():
        trial.set_constraint(key, value)
    study.tell(trial, original.values)
