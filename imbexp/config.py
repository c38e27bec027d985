"""The one place where the top-level config is checked before any work starts.

The checks are a table, :data:`RULES` (key path -> constraint, in the vocabulary of
:mod:`imbexp.constraints`), plus the keys ``conf/config.yaml`` itself defines for each section,
so ``+objective.metrik=f1`` is refused with "did you mean" instead of doing nothing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from imbexp._paths import config_dir
from imbexp.calibration import METHODS as CALIBRATION_METHODS
from imbexp.constraints import AnyOf, Constraint, Interval, Null, Options, Text, Worded, check, check_keys
from imbexp.errors import ConfigError
from imbexp.metrics import LOWER_IS_BETTER, OBJECTIVE_METRICS, THRESHOLD_RULES

#: ``threshold.multiclass``: how a multi-class run decides (imbexp.multiclass.decisions)
MULTICLASS_RULES = ("argmax", "cost_matrix", "ovr_f1")

DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class Objective:
    """What a run returns to a sweeper: ``valid_<metric>`` (the CV mean under ``split=cv``)."""

    metrics: tuple[str, ...]
    directions: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f"valid_{m}" for m in self.metrics)

    @property
    def is_multi(self) -> bool:
        return len(self.metrics) > 1


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple | ListConfig) else [value]


def parse_objective(cfg: DictConfig) -> Objective:
    """``objective.metric`` (one name or a list) and ``objective.direction`` (``auto`` picks
    minimize for losses and calibration errors, maximize otherwise)."""
    objective = cfg.get("objective") or {}
    metrics = _as_list(objective.get("metric", "pr_auc"))
    for metric in metrics:
        if metric not in OBJECTIVE_METRICS:
            raise ConfigError(f"objective.metric={metric!r} is not a known metric; use one of "
                              f"{', '.join(OBJECTIVE_METRICS)}.")
    direction = objective.get("direction", "auto")
    directions = _as_list(direction)
    if len(directions) == 1 and len(metrics) > 1:
        directions = directions * len(metrics)
    if len(directions) != len(metrics):
        raise ConfigError(f"objective.direction={list(directions)} has {len(directions)} entries "
                          f"for {len(metrics)} objective metrics; give one direction per metric.")
    resolved = []
    for metric, item in zip(metrics, directions, strict=True):
        if item == "auto":
            item = "minimize" if metric in LOWER_IS_BETTER else "maximize"
        if item not in DIRECTIONS:
            raise ConfigError(f"objective.direction={item!r} is not allowed; use maximize, "
                              "minimize or auto.")
        resolved.append(item)
    return Objective(tuple(metrics), tuple(resolved))


#: the largest ``seed``: the split also uses ``seed + 1``, and numpy's legacy generators (behind
#: scikit-learn's ``random_state``) take seeds below 2**32
MAX_SEED = 2**32 - 2
#: ``metrics.ece_bins`` above this measure noise (a bin holds a handful of test rows)
MAX_ECE_BINS = 1000
#: ``metrics.bootstrap`` above this narrows no interval that matters and takes minutes
MAX_BOOTSTRAP = 100_000

#: ``repeats`` above this: a claim needs a handful of seeds, not hundreds of runs per configuration
MAX_REPEATS = 100


class RunId(Constraint):
    """An MLflow run id: 32 hexadecimal characters (whether the run exists is asked of the store
    later, in :func:`imbexp.compare.check_compare_to`)."""

    _PATTERN = re.compile(r"[0-9a-f]{32}")

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and self._PATTERN.fullmatch(value) is not None

    def allowed(self) -> str:
        return "the 32-character hex id of an MLflow run"


#: the config's sections whose keys are all read by a run: any other key is a typo
SECTIONS = ("objective", "threshold", "metrics", "deployment", "tracking")

#: key path -> what it may hold; a key left out of the config keeps its default
RULES: dict[str, Constraint] = {
    # the split draws its valid part with seed + 1, and numpy's legacy seeds (scikit-learn's
    # random_state) must be below 2**32: so every seed derived from this one is valid
    "seed": Interval(int, 0, MAX_SEED),
    "tracking.uri": Worded(Text(), "use e.g. sqlite:///runs/mlflow.db or http://host:5000"),
    "tracking.log_model": Worded(Options("auto", True, False), "use auto (not in sweeps), true or false"),
    "tracking.plots": Worded(Options("auto", True, False), "use auto (not in sweeps), true or false"),
    "tracking.stale_after_hours": Worded(AnyOf(Interval(float, 0, None, closed="neither"), Null()),
                                         "use a number of hours > 0, or null (never)"),
    # upper bounds: the reliability diagram and the bootstrap cost time in proportion to these
    # (ece_bins=1e8 ran for over 10 minutes); far beyond them nothing is gained
    "metrics.ece_bins": Interval(int, 2, MAX_ECE_BINS),
    "metrics.bootstrap": Worded(AnyOf(Options(0), Interval(int, 20, MAX_BOOTSTRAP)),
                                f"use 0 (off) or an integer from 20 to {MAX_BOOTSTRAP}"),
    "threshold.rule": Worded(Options(*THRESHOLD_RULES), f"use one of {', '.join(THRESHOLD_RULES)}"),
    "threshold.multiclass": Worded(Options(*MULTICLASS_RULES), f"use one of {', '.join(MULTICLASS_RULES)}"),
    "threshold.beta": Interval(float, 0, None, closed="neither"),
    "threshold.min_recall": Worded(Interval(float, 0, 1), "use a number in [0, 1]"),
    "threshold.cost_fp": Worded(Interval(float, 0, None), "costs are numbers >= 0"),
    "threshold.cost_fn": Worded(Interval(float, 0, None), "costs are numbers >= 0"),
    # a plain value, so a map (calibration.method=...) is refused too
    "calibration": Worded(Options(*CALIBRATION_METHODS), f"use one of {', '.join(CALIBRATION_METHODS)}"),
    "deployment.prevalence": Worded(AnyOf(Interval(float, 0, 1, closed="neither"), Null()),
                                    "use a share strictly between 0 and 1 (e.g. 0.002), or null"),
    "repeats": Worded(Interval(int, 1, MAX_REPEATS), f"use an integer from 1 to {MAX_REPEATS} (the number of seeds)"),
    "compare_to": Worded(AnyOf(RunId(), Null()), "use the 32-character hex id of a finished MLflow run, or null"),
}
#: keys a run cannot do without (no default)
REQUIRED = ("seed", "tracking.uri")
_ABSENT = object()


@functools.lru_cache(maxsize=1)
def known_keys() -> dict[str, tuple[str, ...]]:
    """The keys of each section in ``conf/config.yaml``: adding a key to the YAML is all it takes
    for a run to accept it."""
    root = OmegaConf.load(config_dir() / "config.yaml")
    return {section: tuple(root[section].keys()) for section in SECTIONS}


def check_rules(cfg: Any, rules: dict[str, Constraint], required: tuple[str, ...] = (),
                prefix: str = "") -> None:
    """Check every key of ``rules`` present in ``cfg`` (``required`` ones even when absent)."""
    for key, constraint in rules.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=False)
        if value is _ABSENT and key not in required:
            continue
        value = None if value is _ABSENT else value
        if isinstance(value, DictConfig | ListConfig):
            value = OmegaConf.to_container(value, resolve=True)
        check(f"{prefix}{key}", value, constraint)


def validate(cfg: DictConfig) -> Objective:
    """Check the keys every run needs; return the parsed objective."""
    for group in ("dataset", "strategy", "model", "split", "tracking"):
        if not isinstance(cfg.get(group), DictConfig):
            raise ConfigError(f"{group} is not configured; pick one with {group}=NAME.")
    known = known_keys()
    for section in SECTIONS:
        if isinstance(cfg.get(section), DictConfig):
            check_keys(section, cfg[section].keys(), known[section])
    check_rules(cfg, RULES, REQUIRED)
    threshold = cfg.get("threshold") or {}
    if threshold.get("cost_fp", 1.0) == 0 and threshold.get("cost_fn", 1.0) == 0:
        raise ConfigError("threshold.cost_fp and threshold.cost_fn are both 0; at least one cost must be > 0.")
    repeats = int(cfg.get("repeats", 1) or 1)
    if int(cfg.seed) + repeats - 1 > MAX_SEED:  # the seed runs use seed, seed + 1, ..., seed + repeats - 1
        raise ConfigError(f"seed={cfg.seed} with repeats={repeats} runs seeds up to {int(cfg.seed) + repeats - 1}; "
                          f"use a seed <= {MAX_SEED - repeats + 1}.")
    return parse_objective(cfg)
