"""What differs between the supported hydra-core (1.3, 1.4) and omegaconf (2.3, 2.4) versions,
in one place, so the rest of the code calls one spelling."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import hydra
import omegaconf
from omegaconf import OmegaConf


def _major_minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


HYDRA_1_4 = _major_minor(hydra.__version__) >= (1, 4)

#: keyword arguments for ``hydra.main`` and ``initialize_config_dir``: 1.3 needs ``version_base``
#: to use its current defaults (and warns without it); 1.4 deprecates the argument
#: (Hydra15MigrationWarning) and uses its own defaults, which are the ones imbexp's configs set.
VERSION_BASE: dict[str, Any] = {} if HYDRA_1_4 else {"version_base": "1.3"}


def instantiate(spec: Any) -> Any:
    """``hydra.utils.instantiate`` of a spec whose ``_target_`` the user picks.

    Choosing the class is what a model config is for (any scikit-learn estimator, or the user's
    own), and the configs are the user's own files and command line, trusted like code. Hydra 1.4
    warns about every target outside an execution whitelist (an error in 1.5), so the legacy
    behaviour is asked for explicitly there.
    """
    from hydra.utils import instantiate as hydra_instantiate

    if not HYDRA_1_4:
        return hydra_instantiate(spec)
    from hydra.utils import UNSAFE_DISABLE_EXECUTION_CHECKS

    return hydra_instantiate(spec, _execution_whitelist_=UNSAFE_DISABLE_EXECUTION_CHECKS)


def trusted_targets(*targets: str) -> contextlib.AbstractContextManager[Any]:
    """A context in which Hydra 1.4 instantiates these config targets of imbexp's without its
    whitelist warning (Hydra builds them itself: ``hydra.callbacks``); nothing on 1.3."""
    if not HYDRA_1_4:
        return contextlib.nullcontext()
    from hydra.utils import execution_whitelist

    return execution_whitelist(list(targets))


def register_resolver(name: str, resolver: Callable[..., Any]) -> None:
    """Register an OmegaConf resolver once.

    omegaconf 2.4 renames ``register_new_resolver`` to ``register_resolver`` and deprecates the
    old name; in 2.3 ``register_resolver`` is the legacy string-only API, so the name alone
    cannot tell them apart and the version does.
    """
    if OmegaConf.has_resolver(name):
        return
    if _major_minor(omegaconf.__version__) >= (2, 4):
        OmegaConf.register_resolver(name, resolver)
    else:
        OmegaConf.register_new_resolver(name, resolver)
