"""Shared fixtures: every test writes its runs under one throwaway IMBEXP_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from omegaconf import DictConfig

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def imbexp_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One home for the session, so the MLflow database is created (and migrated) once."""
    home = tmp_path_factory.mktemp("imbexp-home")
    previous = os.environ.get("IMBEXP_HOME")
    os.environ["IMBEXP_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("IMBEXP_HOME", None)
    else:
        os.environ["IMBEXP_HOME"] = previous


@pytest.fixture
def compose(imbexp_home: Path) -> Callable[..., DictConfig]:
    """Compose the app's config in-process, as ``python -m imbexp`` would."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import imbexp  # noqa: F401  (registers the ${imbexp.root:} resolver)
    from imbexp._compat import VERSION_BASE
    from imbexp._paths import config_dir

    def _compose(*overrides: str) -> DictConfig:
        # A run composed here is a single run, which logs its model by default (1-2 s of MLflow's
        # model flavour); the tests that check the model ask for it, later overrides win.
        with initialize_config_dir(str(config_dir()), **VERSION_BASE):
            return hydra_compose("config", overrides=["tracking.log_model=false", *overrides])

    return _compose


@pytest.fixture
def run_cli(imbexp_home: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m imbexp ARGS`` in a subprocess, as a user would."""

    def _run(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        env = {**os.environ, "IMBEXP_HOME": str(imbexp_home), "PYTHONUNBUFFERED": "1"}
        return subprocess.run([sys.executable, "-m", "imbexp", *args], cwd=cwd or imbexp_home, env=env,
                              capture_output=True, text=True, timeout=timeout)

    return _run


@pytest.fixture
def mlflow_client(imbexp_home: Path):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{imbexp_home.as_posix()}/runs/mlflow.db"
    (imbexp_home / "runs").mkdir(exist_ok=True)
    mlflow.set_tracking_uri(uri)
    return MlflowClient(uri)


# --- Real services for scale-out tests: PostgreSQL and an MLflow tracking server -------------
# (tests/services.py does the work; these are session-scoped, so each starts at most once
# and only when a test asks for it.)


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster on 127.0.0.1:<free port> with scram password auth.

    The binaries are the system's PostgreSQL 15 when installed, else the pgserver wheel's 16
    from the ``test`` extra (``services.find_postgres``).

    Yields ``services.PostgresService``: ``.optuna_url`` and ``.mlflow_url`` are
    ``postgresql+psycopg2://imbexp:<random password>@127.0.0.1:PORT/<db>``; ``.url(db)``,
    ``.password`` and ``.create_database()`` (a fresh, isolated database) are there too.
    Fails loudly, not skips, when PostgreSQL cannot be started: ``pip install -e '.[test]'`` brings it.
    """
    from services import start_postgres, stop_postgres

    service = start_postgres()
    try:
        yield service
    finally:
        stop_postgres(service)


@pytest.fixture(scope="session")
def mlflow_server(postgres):
    """``mlflow server`` on 127.0.0.1:<free port>, backend store = the ``mlflow`` database.

    Artifacts are proxied by the server into a local temporary folder (``.artifacts_dir``);
    ``.url`` is ``http://127.0.0.1:PORT``; ``.log_text()`` is the server's log (password masked).
    """
    from services import start_mlflow_server, stop_mlflow_server

    server = start_mlflow_server(postgres.mlflow_url, secrets=[postgres.password, postgres.admin_password])
    try:
        yield server
    finally:
        stop_mlflow_server(server)


@pytest.fixture(scope="session")
def mlflow_server_uri(mlflow_server) -> str:
    """The tracking URI of the session's MLflow server: ``http://127.0.0.1:PORT``."""
    return mlflow_server.url
