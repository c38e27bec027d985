"""``python -m imbexp`` / ``imbexp``: the Hydra application."""

from __future__ import annotations

import contextlib
import gc
import os
import re
import signal
import sys
from collections.abc import Iterator
from typing import Any

import hydra
from omegaconf import DictConfig

from imbexp import callbacks, lifecycle
from imbexp._compat import VERSION_BASE, trusted_configs
from imbexp._paths import config_dir
from imbexp.errors import ImbexpError, exit_with


@hydra.main(config_path=str(config_dir()), config_name="config", **VERSION_BASE)
def _app(cfg: DictConfig) -> Any:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if not multirun and HydraConfig.get().runtime.choices.get("hydra/sweeper") == "imbexp_optuna":
        # a sweep preset chosen in a config file, not as sweep=NAME on the command line (which
        # adds --multirun): run once, it would ignore the preset's search space without a word
        exit_with("the config selects the Optuna sweeper (a sweep preset), but this is a single run; "
                  "add -m (or give the preset as sweep=NAME on the command line) to sweep.")
    if not multirun or callbacks.open_grid() is not None:  # a sweeper's trials keep its own handling
        stop = lifecycle.pending_stop()
        if stop is not None:  # received during the grid's last job, its exception swallowed: no new job
            raise stop
        lifecycle.install_stop_handlers()
    try:
        return _job(cfg, multirun)
    except Exception as exc:
        grid = callbacks.open_grid() if multirun else None
        if grid is not None:  # a grid goes on past a failed job; its parent run sums them up
            grid.job_failed(exc, list(HydraConfig.get().overrides.task))
            return None
        if multirun or not isinstance(exc, ImbexpError):
            raise  # a sweeper records the trial as failed
        exit_with(exc)  # a single run: the user's mistake in one sentence, no traceback


def _job(cfg: DictConfig, multirun: bool) -> Any:
    """One job: a run, or ``repeats=k`` seed runs under a group run; then the paired comparison
    with ``compare_to``. Returns the objective (the seed mean under ``repeats``)."""
    from imbexp import compare
    from imbexp.config import validate
    from imbexp.run import experiment

    # compare_to and repeats are refused before any data is read or any run is made
    validate(cfg)
    compare.check_compare_to(cfg)
    if int(cfg.get("repeats", 1) or 1) > 1:
        # a grid or sweep compares all its runs with their baselines at its end
        return compare.run_repeats(cfg, experiment, baselines_now=not multirun).value
    result = experiment(cfg)
    if cfg.get("compare_to"):
        compare.compare_to(cfg, result.run_id)
    return result.value


#: ``${oc.env:NAME}`` without a default, as used to keep passwords out of commands
_REQUIRED_ENV = re.compile(r"\$\{oc\.env:([A-Za-z_][A-Za-z0-9_]*)\}")


def _check_environment(arguments: list[str]) -> None:
    """An override that reads an unset environment variable fails inside Hydra with a stack
    trace, before any imbexp code runs; say it in one sentence instead."""
    for argument in arguments:
        for name in _REQUIRED_ENV.findall(argument):
            if name not in os.environ:
                key = argument.split("=", 1)[0]
                exit_with(f"{key} reads the environment variable {name}, which is not set; "
                          f"export it (or give a default: ${{oc.env:{name},DEFAULT}}).")


#: a ``sweep=NAME`` or ``suite=NAME`` override (``+`` and ``++`` too); ``=null`` is a single run
_SWEEP_PRESET = re.compile(r"\+{0,2}(?:sweep|suite)=(?!null$).+")
#: Hydra's flags that choose the run mode themselves, or that Hydra refuses beside ``--multirun``
_MODE_FLAGS = ("-m", "--multirun", "-r", "--run", "-c", "--cfg", "-i", "--info", "-sc", "--shell-completion",
               "-h", "--help", "--hydra-help", "--version")


def _with_multirun(arguments: list[str]) -> list[str]:
    """``sweep=NAME`` starts a sweep without ``-m``.

    Hydra 1.4 fixes the run mode before it composes the config, so a sweep preset can no longer
    switch to MULTIRUN with ``hydra.mode`` (1.4 stops with "hydra.mode changed during config
    composition"); the command line can, on 1.3 and 1.4 alike.
    """
    for argument in arguments:
        if argument.split("=", 1)[0] in _MODE_FLAGS or argument.startswith("hydra.mode="):
            return arguments
    if any(_SWEEP_PRESET.fullmatch(argument) for argument in arguments):
        return ["--multirun", *arguments]
    return arguments


#: Hydra's flags that print a help: the app's (config groups and the config) or Hydra's own
_HELP_FLAGS = ("-h", "--help", "--hydra-help")


@contextlib.contextmanager
def _group_options_listed_once(arguments: list[str]) -> Iterator[None]:
    """In a help: every config group's options from one copy of Hydra's config repository.

    A help lists every config group and its options, about 90 look-ups, and Hydra makes each
    from a fresh deep copy of the whole config repository: 1.0 s of the help's 1.1 s of CPU.
    Nothing changes the repository while the help is printed, so one copy (per primary config
    and overrides, the copy's key) answers every look-up; the lists are Hydra's own. Hydra has
    no setting for it: its loader's look-up is wrapped for this command only.
    """
    if not any(argument in _HELP_FLAGS for argument in arguments):
        yield
        return
    try:  # Hydra's private loader: another Hydra that moved it prints its help as it is
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        from hydra.core.object_type import ObjectType
    except ImportError:
        yield
        return

    original = ConfigLoaderImpl.get_group_options
    if not hasattr(ConfigLoaderImpl, "_parse_overrides_and_create_caching_repo"):  # another Hydra: as it is
        yield
        return
    copies: dict[tuple[int, str | None, tuple[str, ...]], Any] = {}

    def get_group_options(self: Any, group_name: str, results_filter: Any = ObjectType.CONFIG,
                          config_name: str | None = None, overrides: list[str] | None = None) -> list[str]:
        key = (id(self), config_name, tuple(overrides or ()))
        try:
            if key not in copies:
                copies[key] = self._parse_overrides_and_create_caching_repo(config_name, list(overrides or ()))[1]
            return copies[key].get_group_options(group_name, results_filter)
        except (TypeError, AttributeError, IndexError):  # the private method changed shape: Hydra's own way
            return original(self, group_name, results_filter, config_name, overrides)

    ConfigLoaderImpl.get_group_options = get_group_options
    try:
        yield
    finally:
        ConfigLoaderImpl.get_group_options = original


def _close_grid(status: str) -> str | None:
    """Close the parent run of a grid that ended early; returns its id."""
    grid = callbacks.open_grid()
    if grid is None:  # none open; or a stop closed it while it was comparing or drawing its report
        return callbacks.stopped_parent()
    run_id = grid.run_id
    try:
        grid.close(status)
    except Exception as exc:  # the store itself is gone; the next command closes the parent
        print(f"imbexp: the grid's parent run {run_id} was not closed: {exc}", file=sys.stderr)
        return None
    return run_id


def main() -> None:
    """Console entry point."""
    lifecycle.forget_stops()
    _check_environment(sys.argv[1:])
    sys.argv[1:] = _with_multirun(sys.argv[1:])
    try:
        with trusted_configs(), _group_options_listed_once(sys.argv[1:]):
            _app()
    except lifecycle.Stopped as stop:  # SIGINT or SIGTERM in a single run or a grid
        lifecycle.exit_stopped(stop, grid_parent=_close_grid("KILLED"))
    except KeyboardInterrupt:  # Ctrl-C before the handlers are in place (start-up, a grid's first job)
        closed = _close_grid("KILLED")
        outcome = f"; grid parent run {closed} marked KILLED" if closed else ""
        print(f"imbexp: stopped by SIGINT{outcome}", file=sys.stderr, flush=True)
        sys.exit(128 + signal.SIGINT)
    except BaseException:  # a grid ended early (a launcher's error): its parent is not left RUNNING
        _close_grid("FAILED")
        raise
    else:
        stop = lifecycle.pending_stop()
        if stop is not None:  # a stop whose exception a finalizer swallowed: the run ended, the exit says so
            lifecycle.exit_stopped(stop, grid_parent=_close_grid("KILLED"))
        failure = callbacks.grid_failure()
        if failure:
            exit_with(failure, code=1)
    finally:
        # Python's shutdown runs the cyclic garbage collector over every object MLflow,
        # scikit-learn, matplotlib and friends created: 1.1 s after a sweep, for nothing (the
        # process is ending). Frozen objects are skipped; files, databases and atexit handlers
        # are closed and run as usual.
        gc.freeze()
