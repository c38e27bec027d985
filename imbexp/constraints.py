"""One vocabulary for what a config value may be, and the one sentence when it is not.

Constraints are data, as in imbalanced-learn's ``_parameter_constraints`` and scikit-learn's
``_validate_params``: a parameter lists what it accepts (``Interval(int, 1, None)``,
``Options("auto", True, False)``, ``PerClass(Interval(float, 1, None))``...) and the error text
is made from that list, so the check and the message cannot drift apart. The sentence stays
imbexp's own: ``<key>=<value> is not allowed; use <allowed>.``

scikit-learn's validator is not reused: it is private API, raises ``InvalidParameterError``
with its own wording, treats ``True`` as an integer and knows nothing of per-class maps or of
config keys such as ``strategy.downsample_factor``.
"""

from __future__ import annotations

import difflib
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

from imbexp.errors import ConfigError

__all__ = [
    "AnyOf",
    "Constraint",
    "Interval",
    "Null",
    "Options",
    "PerClass",
    "Text",
    "Worded",
    "allowed_text",
    "check",
    "check_keys",
    "did_you_mean",
    "is_number",
]


def is_number(value: Any) -> bool:
    """A real number, not a bool (``True`` is an ``int`` to Python, never a factor to a user)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _yaml(value: Any) -> str:
    """A value as the user writes it in YAML or on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _join(parts: list[str], last: str = "or") -> str:
    if len(parts) <= 2:
        return f" {last} ".join(parts)
    return ", ".join(parts[:-1]) + f" {last} " + parts[-1]


class Constraint(ABC):
    """What one parameter accepts; :meth:`allowed` is the text after "use"."""

    @abstractmethod
    def is_satisfied_by(self, value: Any) -> bool:
        """Whether ``value`` is allowed."""

    @abstractmethod
    def allowed(self) -> str:
        """What is allowed, in the words of the error sentence (``a number >= 1``)."""

    def clause(self) -> str:
        """The sentence's end after "is not allowed; ": ``use <allowed>``."""
        return f"use {self.allowed()}"


class Interval(Constraint):
    """A finite number of ``kind`` (``int`` or ``float``) between ``low`` and ``high``.

    ``closed`` says which ends belong to it: ``both`` (default), ``left``, ``right`` or
    ``neither``; ``None`` is an open end. ``float`` accepts integers too (``10`` is a factor),
    ``int`` accepts whole floats only when ``whole_floats`` is set (YAML reads ``1e6`` as a float).
    """

    def __init__(self, kind: type, low: float | None, high: float | None, *, closed: str = "both",
                 whole_floats: bool = False) -> None:
        if kind not in (int, float):
            raise TypeError("Interval kind must be int or float")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed={closed!r}")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed
        self.whole_floats = whole_floats

    def is_satisfied_by(self, value: Any) -> bool:
        if not is_number(value) or not math.isfinite(value):
            return False
        if self.kind is int and not isinstance(value, int):
            if not (self.whole_floats and float(value).is_integer()):
                return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def allowed(self) -> str:
        kind = "an integer" if self.kind is int else "a number"
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            if low_in and high_in:
                return f"{kind} from {_yaml(self.low)} to {_yaml(self.high)}"
            low = f"{'>=' if low_in else '>'} {_yaml(self.low)}"
            high = f"{'<=' if high_in else '<'} {_yaml(self.high)}"
            return f"{kind} {low} and {high}"
        if self.low is not None:
            return f"{kind} {'>=' if low_in else '>'} {_yaml(self.low)}"
        if self.high is not None:
            return f"{kind} {'<=' if high_in else '<'} {_yaml(self.high)}"
        return kind

    def __repr__(self) -> str:
        return f"Interval({self.kind.__name__}, {self.low}, {self.high}, closed={self.closed!r})"


class Options(Constraint):
    """One of a fixed set of values; ``True`` and ``1`` are different options."""

    def __init__(self, *options: Any) -> None:
        self.options = options

    def is_satisfied_by(self, value: Any) -> bool:
        return any(value == option and type(value) is type(option) for option in self.options)

    def allowed(self) -> str:
        return _join([_yaml(option) for option in self.options])

    def __repr__(self) -> str:
        return f"Options{self.options!r}"


class Null(Constraint):
    """``null`` (``None``): "not set", where a default is chosen later."""

    def __init__(self, meaning: str = "") -> None:
        self.meaning = meaning

    def is_satisfied_by(self, value: Any) -> bool:
        return value is None

    def allowed(self) -> str:
        return f"null {self.meaning}".strip()


class Text(Constraint):
    """A non-empty string; ``description`` says which (``a module.function path``)."""

    def __init__(self, description: str = "a text") -> None:
        self.description = description

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and bool(value.strip())

    def allowed(self) -> str:
        return self.description


class Worded(Constraint):
    """Another constraint in its own words, for a sentence users already know
    (``threshold.cost_fp=-1 is not allowed; costs are numbers >= 0.``)."""

    def __init__(self, inner: Constraint, clause: str) -> None:
        self.inner, self._clause = inner, clause

    def is_satisfied_by(self, value: Any) -> bool:
        return self.inner.is_satisfied_by(value)

    def allowed(self) -> str:
        return self._clause.removeprefix("use ")

    def clause(self) -> str:
        return self._clause


class AnyOf(Constraint):
    """Any one of several constraints (``'balanced' or a number > 0``)."""

    def __init__(self, *constraints: Constraint) -> None:
        self.constraints = constraints

    def is_satisfied_by(self, value: Any) -> bool:
        return any(c.is_satisfied_by(value) for c in self.constraints)

    def allowed(self) -> str:
        return _join([c.allowed() for c in self.constraints])


class PerClass(Constraint):
    """A value for the majority class, or a map ``{class: value}`` for the classes it names.

    The map's values must each satisfy ``each``; :func:`check` names the bad entry's own key
    (``strategy.downsample_factor.0``).
    """

    def __init__(self, each: Constraint) -> None:
        self.each = each

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, Mapping):
            return bool(value) and all(self.each.is_satisfied_by(v) for v in value.values())
        return self.each.is_satisfied_by(value)

    def allowed(self) -> str:
        return f"{self.each.allowed()}, or a map {{class: {self.each.allowed()}}}"


def allowed_text(constraints: Constraint | Iterable[Constraint]) -> str:
    """The "use ..." text of one constraint or a list of alternatives."""
    if isinstance(constraints, Constraint):
        return constraints.allowed()
    return AnyOf(*constraints).allowed()


def check(key: str, value: Any, constraints: Constraint | Iterable[Constraint], hint: str = "") -> Any:
    """``value`` if one of ``constraints`` allows it; otherwise :class:`ConfigError` with the
    one sentence ``<key>=<value> is not allowed; use <allowed>.`` (``hint`` is appended)."""
    constraint = constraints if isinstance(constraints, Constraint) else AnyOf(*constraints)
    per_class = _per_class(constraint)
    if per_class is not None and isinstance(value, Mapping) and value:
        for label, item in value.items():  # name the bad entry, not the whole map
            check(f"{key}.{label}", item, per_class.each, hint)
        return value
    if not constraint.is_satisfied_by(value):
        raise ConfigError(f"{key}={value!r} is not allowed; {constraint.clause()}."
                          + (f" {hint}" if hint else ""))
    return value


def _per_class(constraint: Constraint) -> PerClass | None:
    """The per-class map a constraint accepts, also among alternatives (a factor or ``null``)."""
    if isinstance(constraint, PerClass):
        return constraint
    if isinstance(constraint, AnyOf):
        return next((c for c in constraint.constraints if isinstance(c, PerClass)), None)
    return None


def did_you_mean(name: str, known: Iterable[str], prefix: str = "") -> str:
    """`` did you mean <prefix>X?`` for the closest known name, or an empty string."""
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f" did you mean {prefix}{close[0]}?" if close else ""


def check_keys(prefix: str, given: Iterable[str], known: Iterable[str], what: str = "") -> None:
    """Refuse keys under ``prefix`` that nothing reads: a typo would otherwise do nothing.

    ``<prefix>.<key> is not a key of <what>;[ did you mean <prefix>.<close>?] its keys: ...``
    """
    known = sorted(known)
    for key in given:
        if key not in known:
            hint = did_you_mean(key, known, prefix=f"{prefix}.")
            listed = ", ".join(known) or "none"
            raise ConfigError(f"{prefix}.{key} is not a key of {what or prefix};{hint} its keys: {listed}.")
