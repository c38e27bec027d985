"""The search space: the official Hydra Optuna sweeper's override grammar, read into Optuna
distributions.

``interval(a, b)`` is a float range, ``range(a, b[, step])`` a stepped int or float range that,
as everywhere in Hydra's grammar, stops before ``b``, ``choice(x, y, ...)`` (or ``x,y``) a
categorical and ``tag(log, ...)`` puts an interval or a step-1 int range on a log scale. Any other
value is fixed and passed to every trial as it is.

``conditional_params`` add parameters that exist only when another parameter has a given value,
e.g. ``{"strategy=downsample": {"strategy.downsample_factor": "tag(log, interval(1, 300))"}}``.

A per-class key ``strategy.<parameter>.<class>`` (``strategy.downsample_factor.cat``), where the
config's ``strategy.<parameter>`` is a number or a mapping of classes, searches one class's value:
the trial gets the classes searched or fixed together as one mapping,
``strategy.downsample_factor={cat:3.2,dog:7}`` (Hydra merges it into a mapping; it replaces a
number, so a class not named keeps the strategy's default for unnamed classes, factor 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from imbexp.errors import ConfigError, first_line
from imbexp.tracking import flatten

_GRAMMAR = ("interval(low, high), range(start, stop[, step]), choice(a, b, ...) "
            "or tag(log, interval(low, high))")
_MISSING = object()


@dataclass(frozen=True)
class Param:
    """One searched config key; ``condition`` is ``(parameter, value)`` for a conditional one."""

    name: str
    distribution: BaseDistribution
    expression: str
    condition: tuple[str, str] | None = None


@dataclass
class SearchSpace:
    """Searched parameters in the order they are sampled, and fixed overrides for every trial."""

    params: list[Param] = field(default_factory=list)
    fixed: dict[str, str] = field(default_factory=dict)
    #: ``strategy.<parameter>`` keys whose per-class keys reach a trial as one mapping
    #: (:func:`resolve_class_maps` finds them from the config)
    class_maps: set[str] = field(default_factory=set)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def is_conditional(self) -> bool:
        return any(p.condition for p in self.params)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Sample the parameters active in this trial (a condition's parameter comes first)."""
        values: dict[str, Any] = {}
        for param in self.params:
            if param.condition is not None:
                on, wanted = param.condition
                if on not in values or format_value(values[on]) != wanted:
                    continue
            values[param.name] = suggest(trial, param.name, param.distribution)
        return values

    def overrides(self, values: Mapping[str, Any]) -> list[str]:
        """Hydra overrides for one trial: the fixed values, then the sampled ones (the per-class
        keys of a :attr:`class_maps` parameter as one mapping, where its first key was)."""
        merged = {**self.fixed, **{name: format_value(value) for name, value in values.items()}}
        return self._grouped(merged)

    def fixed_overrides(self) -> list[str]:
        """The fixed values as Hydra overrides (per-class keys grouped as in :meth:`overrides`)."""
        return self._grouped(self.fixed)

    def _grouped(self, merged: Mapping[str, str]) -> list[str]:
        if not self.class_maps:
            return [f"{name}={value}" for name, value in merged.items()]
        out: dict[str, str | dict[str, str]] = {}
        for name, value in merged.items():
            parent = class_parent(name)
            if parent in self.class_maps:
                classes = out.setdefault(parent, {})
                classes[name[len(parent) + 1:]] = value  # type: ignore[index]
            else:
                out[name] = value
        return [f"{name}={_mapping_text(value) if isinstance(value, dict) else value}" for name, value in out.items()]

    def grid(self) -> dict[str, list[Any]]:
        """Every value of every parameter, for Optuna's GridSampler."""
        if self.is_conditional:
            raise ConfigError("hydra.sweeper.sampler=grid cannot search conditional_params; use "
                              "tpe or random, or list the combinations as choice() values.")
        return {p.name: grid_values(p) for p in self.params}

    def grid_size(self) -> int:
        size = 1
        for values in self.grid().values():
            size *= len(values)
        return size


def class_parent(key: str) -> str | None:
    """``strategy.<parameter>`` of a key shaped like a per-class key, ``strategy.<parameter>.<class>``;
    ``None`` for any other key (``+``/``~`` keys included)."""
    parts = key.split(".", 2)
    if len(parts) == 3 and parts[0] == "strategy" and all(parts):
        return f"{parts[0]}.{parts[1]}"
    return None


def _mapping_text(classes: Mapping[str, str]) -> str:
    """Hydra's dict override syntax, ``{a:3.2,b:7}``."""
    return "{" + ",".join(f"{label}:{value}" for label, value in classes.items()) + "}"


def suggest(trial: Any, name: str, distribution: BaseDistribution) -> Any:
    """``trial.suggest_*`` for a distribution."""
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(name, distribution.low, distribution.high, step=distribution.step,
                                   log=distribution.log)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, step=distribution.step,
                                 log=distribution.log)
    return trial.suggest_categorical(name, distribution.choices)


def format_value(value: Any) -> str:
    """A value as Hydra's override grammar reads it back."""
    from hydra._internal.grammar.utils import escape_special_characters

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return escape_special_characters(value)
    return str(value)


def grid_values(param: Param) -> list[Any]:
    dist = param.distribution
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if dist.step is not None and not getattr(dist, "log", False):
        count = int(round((dist.high - dist.low) / dist.step)) + 1
        return [type(dist.low)(dist.low + i * dist.step) for i in range(count)]
    raise ConfigError(f"hydra.sweeper.params.{param.name}={param.expression!r} is continuous; "
                      "sampler=grid needs choice(...) or range(...) values.")


def parse_param(key: str, expression: Any, where: str = "hydra.sweeper.params") -> BaseDistribution | str:
    """One ``key: expression`` into an Optuna distribution, or a fixed override value (a str)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException

    text = expression if isinstance(expression, str) else format_value(expression)
    label = f"{where}.{key}={text!r}"
    try:
        override = OverridesParser.create().parse_overrides([f"{key}={text}"])[0]
    except HydraException as exc:
        raise ConfigError(f"{label} cannot be parsed ({first_line(exc)}); use {_GRAMMAR}.") from None
    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    value = override.value()
    tags = set(getattr(value, "tags", set()))
    unknown_tags = tags - {"log"}
    if unknown_tags:
        raise ConfigError(f"{label} has the tag {sorted(unknown_tags)[0]!r}; the only tag allowed is log.")

    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        if low is None or high is None:
            raise ConfigError(f"{label} needs both bounds; use interval(low, high).")
        _check_bounds(label, low, high, "log" in tags)
        return FloatDistribution(float(low), float(high), log="log" in tags)

    if isinstance(value, RangeSweep):
        if value.shuffle:
            return CategoricalDistribution(_choices(label, list(override.sweep_iterator())))
        values = list(override.sweep_iterator())
        if not values:
            raise ConfigError(f"{label} is empty: start {value.start} never comes before stop {value.stop} "
                              f"with step {value.step}; use range(start, stop, step) with start < stop.")
        low, high, step = values[0], values[-1], value.step
        _check_bounds(label, low, high, "log" in tags)
        if all(isinstance(v, int) for v in (value.start, value.stop, step)):
            if "log" in tags and step != 1:
                raise ConfigError(f"{label} combines log with step {step}; a log range needs step 1.")
            return IntDistribution(int(low), int(high), step=1 if "log" in tags else int(step), log="log" in tags)
        if "log" in tags:
            raise ConfigError(f"{label} is a float range on a log scale; use tag(log, interval(low, high)).")
        return FloatDistribution(float(low), float(high), step=float(step))

    if isinstance(value, ChoiceSweep):
        if "log" in tags:
            raise ConfigError(f"{label} puts choice() on a log scale; log applies to interval() and range().")
        return CategoricalDistribution(_choices(label, list(override.sweep_iterator())))

    raise ConfigError(f"{label} is not supported; use {_GRAMMAR}.")


def _check_bounds(label: str, low: float, high: float, log: bool) -> None:
    if low > high:
        raise ConfigError(f"{label} has low {low} > high {high}; give the lower bound first.")
    if log and low <= 0:
        raise ConfigError(f"{label} is on a log scale but its low bound is {low}; a log scale needs low > 0.")


def _choices(label: str, values: list[Any]) -> tuple[Any, ...]:
    for value in values:
        if not isinstance(value, str | int | float | bool | type(None)):
            raise ConfigError(f"{label} has the choice {value!r}; choices must be strings, numbers, "
                              "booleans or null.")
    if not values:
        raise ConfigError(f"{label} has no choices; list at least one.")
    return tuple(values)


def parse_search_space(params: Mapping[str, Any] | None, arguments: list[str] | None = None,
                       conditional_params: Mapping[str, Mapping[str, Any]] | None = None) -> SearchSpace:
    """``hydra.sweeper.params``, the command line's task overrides (which win for the same key)
    and ``hydra.sweeper.conditional_params`` into a :class:`SearchSpace`."""
    if isinstance(params, DictConfig):
        params = OmegaConf.to_container(params, resolve=True)
    if isinstance(conditional_params, DictConfig):
        conditional_params = OmegaConf.to_container(conditional_params, resolve=True)
    entries = dict(flatten(params or {}))
    for argument in arguments or []:
        key, sep, value = argument.partition("=")
        if not sep:
            raise ConfigError(f"the override {argument!r} has no '='; write key=value.")
        entries.pop(key, None)
        entries[key] = value

    space = SearchSpace()
    for key, expression in entries.items():
        parsed = parse_param(key, expression)
        if isinstance(parsed, str):
            space.fixed[key] = parsed
        else:
            space.params.append(Param(key, parsed, str(expression)))

    seen: dict[str, Param] = {}
    for condition, branch in (conditional_params or {}).items():
        on, sep, wanted = str(condition).partition("=")
        on, wanted = on.strip(), wanted.strip()
        parent = next((p for p in space.params if p.name == on), None)
        if not sep or parent is None or not isinstance(parent.distribution, CategoricalDistribution):
            raise ConfigError(f"hydra.sweeper.conditional_params key {condition!r} must read PARAM=VALUE "
                              "where PARAM is a choice(...) in hydra.sweeper.params.")
        allowed = [format_value(c) for c in parent.distribution.choices]
        if wanted not in allowed:
            raise ConfigError(f"hydra.sweeper.conditional_params key {condition!r} names the value "
                              f"{wanted!r}, which {on} never takes; its choices: {', '.join(allowed)}.")
        if not isinstance(branch, Mapping):
            raise ConfigError(f"hydra.sweeper.conditional_params.{condition} must map keys to "
                              f"search expressions, not {branch!r}.")
        for key, expression in flatten(branch).items():
            where = f"hydra.sweeper.conditional_params.{condition}"
            parsed = parse_param(key, expression, where)
            if isinstance(parsed, str):
                parsed = CategoricalDistribution((parse_param(key, f"choice({expression})", where).choices[0],))
            if key in space.fixed or any(p.name == key and p.condition is None for p in space.params):
                raise ConfigError(f"{where}.{key} is also in hydra.sweeper.params; search each key in one place.")
            if key in seen and seen[key].distribution != parsed:
                raise ConfigError(f"{where}.{key}={expression!r} differs from {seen[key].expression!r} under "
                                  f"another condition; Optuna needs one range per parameter name.")
            param = Param(key, parsed, str(expression), (on, wanted))
            seen.setdefault(key, param)
            space.params.append(param)
    return space


def resolve_class_maps(space: SearchSpace, compose: Callable[[list[str]], DictConfig]) -> None:
    """Set ``space.class_maps``: the ``strategy.<parameter>`` whose keys ``strategy.<parameter>.<class>``
    are per-class values, because the config the trial gets (its condition applied) has a number
    or a mapping of classes there. A mapping with ``_target_`` is an object's parameters
    (``strategy.sampler.k_neighbors``): those keys stay plain overrides, as Hydra reads them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    keys: dict[str, list[tuple[str, tuple[str, str] | None]]] = {}
    for key in space.fixed:
        if (parent := class_parent(key)) is not None:
            keys.setdefault(parent, []).append((key, None))
    for param in space.params:
        if (parent := class_parent(param.name)) is not None:
            keys.setdefault(parent, []).append((param.name, param.condition))
    space.class_maps = set()
    if not keys:
        return
    children = {key for found in keys.values() for key, _ in found}
    base = [f"{k}={v}" for k, v in space.fixed.items() if k not in children]
    configs: dict[tuple[str, str] | None, DictConfig] = {}
    for parent, found in keys.items():
        for key, condition in found:
            if condition not in configs:
                configs[condition] = compose(base + ([] if condition is None else [f"{condition[0]}={condition[1]}"]))
            value = OmegaConf.select(configs[condition], parent, default=_MISSING, throw_on_missing=False)
            if value is _MISSING or (isinstance(value, DictConfig) and "_target_" in value):
                continue  # a missing key is check_keys' sentence; an object's parameters stay plain keys
            if not (isinstance(value, DictConfig) or (isinstance(value, int | float) and not isinstance(value, bool))):
                raise ConfigError(f"hydra.sweeper.params key {key!r} sets one class's value of {parent}, which is "
                                  f"{format_value(value)!r} in the config; a per-class key needs {parent} to be a "
                                  "number or a mapping of classes.")
            if parent in space.fixed or parent in space.names:
                raise ConfigError(f"hydra.sweeper.params has both {parent} and the per-class key {key!r}; search "
                                  f"{parent} as one value or per class, not both.")
            label = key[len(parent) + 1:]
            try:
                OverridesParser.create().parse_overrides([f"{parent}={{{label}:1}}"])
            except HydraException:
                raise ConfigError(f"hydra.sweeper.params key {key!r} names the class {label!r}, which Hydra's "
                                  "mapping syntax cannot write; per-class keys take classes of letters, digits, "
                                  "'_' and '-'.") from None
            space.class_maps.add(parent)


def check_keys(space: SearchSpace, compose: Callable[[list[str]], DictConfig],
               is_group: Callable[[str], bool]) -> None:
    """Fail on a searched or fixed key that is neither a config group nor a key of the config
    the trial would get (a conditional key is looked up with its condition applied). Per-class
    keys are resolved first (:func:`resolve_class_maps`): their parameter is checked there."""
    resolve_class_maps(space, compose)
    fixed = space.fixed_overrides()
    branches: dict[tuple[str, str] | None, list[str]] = {}
    for param in space.params:
        branches.setdefault(param.condition, []).append(param.name)
    branches.setdefault(None, [])
    for condition, keys in branches.items():
        extra = [] if condition is None else [f"{condition[0]}={condition[1]}"]
        cfg = compose(fixed + extra)
        if condition is None:
            keys = keys + list(space.fixed)
        for key in keys:
            if key.startswith(("+", "~")) or is_group(key) or class_parent(key) in space.class_maps:
                continue
            if OmegaConf.select(cfg, key, default=_MISSING, throw_on_missing=False) is _MISSING:
                when = "" if condition is None else f" when {condition[0]}={condition[1]}"
                raise ConfigError(f"hydra.sweeper.params key {key!r} is not in the config{when}; sweep an "
                                  "existing key (python -m imbexp --cfg job lists them) or write +KEY to add one.")
