"""``hydra.sweeper.constraints``: "maximise PR-AUC subject to valid ECE <= 0.01".

A constraint reads ``METRIC <= NUMBER`` or ``METRIC >= NUMBER``, the metric a valid-set metric a
run logs (``valid_ece``; a bare ``ece`` means the same) or one of the training costs
(``fit_seconds``, ``train_rows``). Test metrics are refused: choosing on them would leak the test
rows into the choice the test is there to judge.

Each finished trial records ``Trial.set_constraint(text, violation)`` (Optuna 5's API; the
samplers' ``constraints_func`` is deprecated since 5.0): a violation <= 0 is feasible. Optuna's
``best_trial`` / ``best_trials`` then return feasible trials only, and TPE, GP and NSGA-II steer
away from the infeasible region, so the sweep needs no ranking of its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial

from imbexp.errors import ConfigError
from imbexp.metrics import COST_METRICS, OBJECTIVE_METRICS

#: metrics a constraint may name besides ``valid_<objective metric>``
_VALID_EXTRA = ("calibration_intercept", "calibration_slope", "net_benefit")
_COSTS = ("fit_seconds", "train_rows", "train_positive_fraction")
ALLOWED_METRICS = tuple(f"valid_{m}" for m in (*OBJECTIVE_METRICS, *_VALID_EXTRA)) + _COSTS

_EXPRESSION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Constraint:
    """One bound on a run's metric."""

    metric: str  # the MLflow metric key, e.g. valid_ece
    operator: str  # "<=" or ">="
    bound: float

    @property
    def text(self) -> str:
        return f"{self.metric} {self.operator} {self.bound:g}"

    def violation(self, value: float) -> float:
        """Optuna's convention: <= 0 is feasible, the size of a positive value says by how much not.
        A value that is not a finite number (a calibration slope of constant scores is NaN) meets
        no bound: +inf, since ``Trial.set_constraint`` refuses NaN and -inf would count as met."""
        if not math.isfinite(value):
            return math.inf
        return value - self.bound if self.operator == "<=" else self.bound - value


def parse_constraints(items: Any) -> list[Constraint]:
    """The ``constraints`` setting (a list of expressions) into constraints; a bad expression or
    an unknown metric is one sentence."""
    if items is None:
        return []
    if isinstance(items, str) or not isinstance(items, Sequence):
        raise ConfigError(f"hydra.sweeper.constraints={items!r} is not allowed; use a list such as "
                          "['valid_ece <= 0.01', 'recall_tuned >= 0.8'].")
    parsed = []
    for item in items:
        match = _EXPRESSION.match(str(item))
        if not match:
            raise ConfigError(f"hydra.sweeper.constraints entry {item!r} is not allowed; use METRIC <= NUMBER or "
                              "METRIC >= NUMBER, e.g. 'valid_ece <= 0.01'.")
        name, operator, bound = match.groups()
        metric = name if name in ALLOWED_METRICS or name.startswith(("valid_", "test_")) else f"valid_{name}"
        if metric.startswith("test_"):
            raise ConfigError(f"hydra.sweeper.constraints entry {item!r} names a test metric; constrain the valid "
                              f"one ({metric.replace('test_', 'valid_', 1)}): the test rows judge the choice, "
                              "they must not make it.")
        if metric not in ALLOWED_METRICS:
            raise ConfigError(f"hydra.sweeper.constraints entry {item!r} names the unknown metric {name!r}; use "
                              f"one of {', '.join(ALLOWED_METRICS)}.")
        parsed.append(Constraint(metric, operator, float(bound)))
    return parsed


def check_logged(constraints: Sequence[Constraint], dataset: Mapping[str, Any]) -> None:
    """Refuse, before any trial runs, a constraint on a metric the runs will not log: the cost
    metrics need the dataset's cost column (``dataset.cost``, which only ``dataset=file`` has), as
    an objective in money does. Otherwise every trial would count as infeasible, with a warning each."""
    for constraint in constraints:
        if constraint.metric.removeprefix("valid_") in COST_METRICS and dataset.get("cost") is None:
            raise ConfigError(f"hydra.sweeper.constraints entry {constraint.text!r} needs dataset.cost, the column "
                              "of what missing each positive costs, and the dataset has none; set "
                              "dataset.cost=COLUMN (dataset=file) or constrain another metric.")


def violations(constraints: Sequence[Constraint], metrics: Mapping[str, float]) -> dict[str, float]:
    """Each constraint's violation given a run's metrics (the constraint's text as key)."""
    missing = [c.metric for c in constraints if c.metric not in metrics]
    if missing:
        raise KeyError(f"the run logged no {', '.join(missing)}, which hydra.sweeper.constraints names")
    return {c.text: c.violation(float(metrics[c.metric])) for c in constraints}


def is_feasible(trial: FrozenTrial | Mapping[str, float]) -> bool:
    """Whether a trial (or its violations, as :func:`violations` gives them) met every
    constraint (a trial with none is feasible)."""
    found = trial.constraints if isinstance(trial, FrozenTrial) else trial
    return all(v <= 0 for v in found.values())


def describe_violations(trial: FrozenTrial | Mapping[str, float]) -> str:
    """The constraints a trial (or its violations) broke, e.g. ``valid_ece <= 0.01 (by 0.0113)``."""
    found = trial.constraints if isinstance(trial, FrozenTrial) else trial
    return "; ".join(f"{text} (by {value:.4g})" if math.isfinite(value) else f"{text} (no finite value: NaN or missing)"
                     for text, value in found.items() if value > 0)
