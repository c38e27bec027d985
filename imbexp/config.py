"""The one place where the top-level config is checked before any work starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig

from imbexp.calibration import METHODS as CALIBRATION_METHODS
from imbexp.errors import ConfigError
from imbexp.metrics import LOWER_IS_BETTER, OBJECTIVE_METRICS, THRESHOLD_RULES

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


def validate(cfg: DictConfig) -> Objective:
    """Check the keys every run needs; return the parsed objective."""
    for group in ("dataset", "strategy", "model", "split", "tracking"):
        if not isinstance(cfg.get(group), DictConfig):
            raise ConfigError(f"{group} is not configured; pick one with {group}=NAME.")
    seed = cfg.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed={seed!r} is not allowed; use an integer >= 0.")
    uri = cfg.tracking.get("uri")
    if not uri or not isinstance(uri, str):
        raise ConfigError(f"tracking.uri={uri!r} is not allowed; use e.g. sqlite:///runs/mlflow.db "
                          "or http://host:5000.")
    bins = cfg.get("metrics", {}).get("ece_bins", 15)
    if not _is_int(bins) or bins < 2:
        raise ConfigError(f"metrics.ece_bins={bins!r} is not allowed; use an integer >= 2.")
    resamples = cfg.get("metrics", {}).get("bootstrap", 0)
    if not _is_int(resamples) or resamples < 0 or 0 < resamples < 20:
        raise ConfigError(f"metrics.bootstrap={resamples!r} is not allowed; use 0 (off) or an integer >= 20.")
    for key in ("plots", "log_model"):
        option = cfg.tracking.get(key, "auto")
        if option != "auto" and not isinstance(option, bool):
            raise ConfigError(f"tracking.{key}={option!r} is not allowed; use auto (not in sweeps), true or false.")
    _validate_threshold(cfg.get("threshold") or {})
    calibration = cfg.get("calibration", "none")
    if calibration not in CALIBRATION_METHODS:
        raise ConfigError(f"calibration={calibration!r} is not allowed; use one of {', '.join(CALIBRATION_METHODS)}.")
    prevalence = (cfg.get("deployment") or {}).get("prevalence")
    if prevalence is not None and not (_is_number(prevalence) and 0 < prevalence < 1):
        raise ConfigError(f"deployment.prevalence={prevalence!r} is not allowed; use a share strictly "
                          "between 0 and 1 (e.g. 0.002), or null.")
    return parse_objective(cfg)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _validate_threshold(threshold: Any) -> None:
    rule = threshold.get("rule", "f1")
    if rule not in THRESHOLD_RULES:
        raise ConfigError(f"threshold.rule={rule!r} is not allowed; use one of {', '.join(THRESHOLD_RULES)}.")
    beta = threshold.get("beta", 1.0)
    if not (_is_number(beta) and beta > 0):
        raise ConfigError(f"threshold.beta={beta!r} is not allowed; use a number > 0.")
    min_recall = threshold.get("min_recall", 0.5)
    if not (_is_number(min_recall) and 0 <= min_recall <= 1):
        raise ConfigError(f"threshold.min_recall={min_recall!r} is not allowed; use a number in [0, 1].")
    for key in ("cost_fp", "cost_fn"):
        cost = threshold.get(key, 1.0)
        if not (_is_number(cost) and cost >= 0):
            raise ConfigError(f"threshold.{key}={cost!r} is not allowed; costs are numbers >= 0.")
    if threshold.get("cost_fp", 1.0) == 0 and threshold.get("cost_fn", 1.0) == 0:
        raise ConfigError("threshold.cost_fp and threshold.cost_fn are both 0; at least one cost must be > 0.")
