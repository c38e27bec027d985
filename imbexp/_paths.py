"""Where imbexp finds its configs and where it writes runs."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from imbexp._compat import register_resolver

_PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The folder that holds ``runs/``.

    ``IMBEXP_HOME`` wins; otherwise the source checkout when the code runs from one (an editable
    install), otherwise the current directory (an installed wheel: site-packages is no place for
    runs). An absolute path, so it does not move with Hydra's working directory.
    """
    home = os.environ.get("IMBEXP_HOME")
    if home:
        return Path(home).expanduser().resolve()
    checkout = _PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "conf").is_dir():
        return checkout
    return Path.cwd().resolve()


def config_dir() -> Path:
    """The Hydra configs: the package ``imbexp.conf``.

    A wheel installs the repository's top-level ``conf/`` under that name (pyproject.toml's
    ``package-dir``), and an editable install maps the name to the checkout's ``conf/``, so the
    one lookup finds the configs the running code came with. A checkout run from ``PYTHONPATH``
    (no install) has no such package; its ``conf/`` beside the code is used then.
    """
    checkout_conf = _PACKAGE_DIR.parent / "conf"
    try:
        return Path(str(files("imbexp.conf")))
    except ModuleNotFoundError:
        if checkout_conf.is_dir():
            return checkout_conf
        raise


def runs_dir() -> Path:
    return project_root() / "runs"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (MLflow's or Optuna's store); None for others."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def register_resolvers() -> None:
    """``${imbexp.root:}`` in the configs resolves to :func:`project_root`."""
    register_resolver("imbexp.root", lambda: project_root().as_posix())
