"""``python -m imbexp`` / ``imbexp``: the Hydra application."""

from __future__ import annotations

import gc
import os
import re
import sys
from typing import Any

import hydra
from omegaconf import DictConfig

from imbexp._compat import VERSION_BASE, trusted_configs
from imbexp._paths import config_dir
from imbexp.errors import ImbexpError, exit_with


@hydra.main(config_path=str(config_dir()), config_name="config", **VERSION_BASE)
def _app(cfg: DictConfig) -> Any:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from imbexp.run import run_experiment

    try:
        return run_experiment(cfg)
    except ImbexpError as exc:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the sweeper records the trial as failed
        exit_with(exc)  # a single run: the user's mistake in one sentence, no traceback


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


#: a ``sweep=NAME`` override (``+sweep=`` and ``++sweep=`` too); ``sweep=null`` is a single run
_SWEEP_PRESET = re.compile(r"\+{0,2}sweep=(?!null$).+")
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


def main() -> None:
    """Console entry point."""
    _check_environment(sys.argv[1:])
    sys.argv[1:] = _with_multirun(sys.argv[1:])
    try:
        with trusted_configs():
            _app()
    finally:
        # Python's shutdown runs the cyclic garbage collector over every object MLflow,
        # scikit-learn, matplotlib and friends created: 1.1 s after a sweep, for nothing (the
        # process is ending). Frozen objects are skipped; files, databases and atexit handlers
        # are closed and run as usual.
        gc.freeze()
