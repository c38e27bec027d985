"""Where imbexp finds its configs and where it writes runs."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

_PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The folder that holds ``runs/``.

    ``IMBEXP_HOME`` wins; otherwise the source checkout (an editable install), otherwise the
    current directory. An absolute path, so it does not move with Hydra's working directory.
    """
    home = os.environ.get("IMBEXP_HOME")
    if home:
        return Path(home).expanduser().resolve()
    checkout = _PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "conf").is_dir():
        return checkout
    return Path.cwd().resolve()


def config_dir() -> Path:
    """The ``conf/`` folder shipped with the code."""
    checkout_conf = _PACKAGE_DIR.parent / "conf"
    if checkout_conf.is_dir():
        return checkout_conf
    return _PACKAGE_DIR / "conf"


def runs_dir() -> Path:
    return project_root() / "runs"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (MLflow's or Optuna's store); None for others."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def register_resolvers() -> None:
    """``${imbexp.root:}`` in the configs resolves to :func:`project_root`."""
    if not OmegaConf.has_resolver("imbexp.root"):
        OmegaConf.register_new_resolver("imbexp.root", lambda: project_root().as_posix())
