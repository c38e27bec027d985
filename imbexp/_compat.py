"""What differs between the supported hydra-core (1.3, 1.4) and omegaconf (2.3, 2.4) versions,
in one place, so the rest of the code calls one spelling."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from omegaconf import OmegaConf


def _major_minor(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


# from the installed metadata: importing hydra costs 0.1-0.3 s, which `import imbexp` (the report
# command) does not need
HYDRA_1_4 = _major_minor(version("hydra-core")) >= (1, 4)
OMEGACONF_2_4 = _major_minor(version("omegaconf")) >= (2, 4)

#: keyword arguments for ``hydra.main`` and ``initialize_config_dir``: 1.3 needs ``version_base``
#: to use its current defaults (and warns without it); 1.4 deprecates the argument
#: (Hydra15MigrationWarning) and uses its own defaults, which are the ones imbexp's configs set.
VERSION_BASE: dict[str, Any] = {} if HYDRA_1_4 else {"version_base": "1.3"}


def trusted_configs() -> contextlib.AbstractContextManager[Any]:
    """A context in which Hydra instantiates config targets as 1.3 does, without 1.4's execution
    whitelist.

    Choosing classes is what imbexp's configs are for (a model is any scikit-learn estimator, or
    the user's own class; ``hydra.callbacks`` may add the user's callbacks), and the configs are
    the user's own files and command line, trusted like code. Hydra 1.4 warns about every target
    built without a whitelist (an error from 1.5), and a whitelist of imbexp's own targets would
    refuse the user's; so legacy behaviour is asked for explicitly. Nothing to do on 1.3.
    """
    if not HYDRA_1_4:
        return contextlib.nullcontext()
    from hydra.utils import UNSAFE_DISABLE_EXECUTION_CHECKS, execution_whitelist

    return execution_whitelist(UNSAFE_DISABLE_EXECUTION_CHECKS)


def register_resolver(name: str, resolver: Callable[..., Any]) -> None:
    """Register an OmegaConf resolver once.

    omegaconf 2.4 renames ``register_new_resolver`` to ``register_resolver`` and deprecates the
    old name; in 2.3 ``register_resolver`` is the legacy string-only API, so the name alone
    cannot tell them apart and the version does.
    """
    if OmegaConf.has_resolver(name):
        return
    if OMEGACONF_2_4:
        OmegaConf.register_resolver(name, resolver)
    else:
        OmegaConf.register_new_resolver(name, resolver)
