"""One builder for every pluggable part: a ``_target_`` spec in, an object out.

Strategies, models, datasets, samplers and search-space functions are all named by a dotted
path in the config (``strategy._target_: imbexp.strategies.DownsampleUpweight``), so adding one
is adding a YAML file. Building them in one place gives every group the same three sentences,
each naming the key path the user wrote:

- the target cannot be imported: ``strategy._target_='...' cannot be imported: ...``;
- a key the target does not take (a typo would otherwise be ignored, or fail deep inside):
  ``strategy.downsample_factr is not a parameter of imbexp.strategies.DownsampleUpweight;
  did you mean strategy.downsample_factor? ...``;
- the target's constructor fails: ``model.estimator cannot be built from '...': <reason>``.

A nested spec (``model.estimator.estimator`` inside a preprocessing pipeline) is checked and
built with its own key path before its parent. Hydra's ``instantiate`` is not used: it wraps the
target's complaint in its own multi-line message without the key path, and it checks no keys.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from imbexp.constraints import did_you_mean
from imbexp.errors import ConfigError, ImbexpError, first_line

__all__ = ["Check", "build", "check_parameters", "is_spec", "locate", "parameters"]

#: called with each built object, its key path and the parameters it was given
Check = Callable[[Any, str, dict[str, Any]], None]

#: Hydra's instantiate keys that are not the target's parameters
_HYDRA_KEYS = ("_target_", "_args_", "_partial_", "_convert_", "_recursive_")


def is_spec(value: Any) -> bool:
    """A mapping with a ``_target_``: a component to build."""
    return isinstance(value, Mapping) and "_target_" in value


def locate(path: Any, key: str) -> Any:
    """The object a dotted path names (``lightgbm.LGBMClassifier``), or one sentence naming
    ``key`` and why it cannot be imported (the closest name when the last part is a typo)."""
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"{key}={path!r} is not allowed; use a dotted path such as module.Name.")
    parts = path.strip().split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and not (module_name == exc.name or module_name.startswith(exc.name + ".")):
                # the module exists but needs a package that is missing
                raise ConfigError(f"{key}={path!r} cannot be imported: {first_line(exc)}.") from exc
            continue
        except Exception as exc:  # the module itself fails to import
            raise ConfigError(f"{key}={path!r} cannot be imported ({type(exc).__name__}: "
                              f"{first_line(exc)}).") from exc
        for name in parts[cut:]:
            if not hasattr(found, name):
                hint = did_you_mean(name, [n for n in dir(found) if not n.startswith("_")],
                                    prefix=f"{module_name}.")
                raise ConfigError(f"{key}={path!r} cannot be imported: {module_name} has no {name!r}"
                                  + (f";{hint}" if hint else "."))
            found, module_name = getattr(found, name), f"{module_name}.{name}"
        return found
    raise ConfigError(f"{key}={path!r} cannot be imported: there is no module {parts[0]!r}.")


def parameters(target: Callable[..., Any]) -> list[str] | None:
    """The keyword parameters ``target`` takes, or ``None`` when it takes any (``**kwargs``)
    or has no signature to read; then only the target itself can judge its keys."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    kinds = {p.kind for p in signature.parameters.values()}
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return None
    return [p.name for p in signature.parameters.values()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def check_parameters(target: Callable[..., Any], given: Iterable[str], key: str, name: str) -> None:
    """Refuse a key under ``key`` that ``target`` (called ``name`` in the sentence) does not take."""
    accepted = parameters(target)
    if accepted is None:
        return
    for param in given:
        if param not in accepted:
            raise ConfigError(f"{key}.{param} is not a parameter of {name};"
                              f"{did_you_mean(param, accepted, prefix=f'{key}.')} its parameters: "
                              f"{', '.join(sorted(accepted)) or 'none'}.")


def _plain(spec: Any) -> Any:
    """A config node as plain Python (interpolations resolved); other values as they are."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(spec, DictConfig | ListConfig):
        return OmegaConf.to_container(spec, resolve=True)
    return spec


def build(spec: Any, key: str, *, target: Callable[..., Any] | None = None, check: Check | None = None,
          **extra: Any) -> Any:
    """Build the component ``spec`` describes; ``key`` is where it sits in the config
    (``strategy``, ``model.estimator``, ``dataset``), named in every sentence.

    ``target`` replaces the imported ``_target_`` (the same parameters, another callable, e.g. a
    loader that reads only the labels); ``extra`` are keyword arguments the program adds (not
    checked against the config); ``check`` is called on each object built, nested ones first, to
    validate what the constructor accepted without checking (a model's parameter values).
    """
    params = dict(_plain(spec)) if isinstance(_plain(spec), Mapping) else {}
    path = params.get("_target_")
    if not path:
        group = key.split(".")[0]
        raise ConfigError(f"{key}._target_ is missing; pick a {group} with {group}=NAME.")
    args = list(params.get("_args_") or [])
    partial = bool(params.get("_partial_", False))
    params = {k: v for k, v in params.items() if k not in _HYDRA_KEYS}
    factory = target if target is not None else locate(path, f"{key}._target_")
    check_parameters(factory, params, key, str(path))
    for name, value in params.items():  # nested components first, each under its own key path
        if is_spec(value):
            params[name] = build(value, f"{key}.{name}", check=check)
        elif isinstance(value, list) and any(is_spec(item) for item in value):
            params[name] = [build(item, f"{key}.{name}.{i}", check=check) if is_spec(item) else item
                            for i, item in enumerate(value)]
    if partial:
        return functools.partial(factory, *args, **params, **extra)
    try:
        built = factory(*args, **params, **extra)
    except ImbexpError:
        raise  # already the one sentence (a strategy's own parameter check)
    except Exception as exc:
        raise ConfigError(f"{key} cannot be built from {path!r}: {type(exc).__name__}: "
                          f"{first_line(exc)}") from exc
    if check is not None:
        check(built, key, params)
    return built
