"""MLflow: where runs go, what each run logs, and how sweeps group their runs."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import socket
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from imbexp import names
from imbexp._paths import sqlite_file
from imbexp.errors import ConfigError, first_line

PARAM_GROUPS = ("dataset", "strategy", "model", "split", "seed", "calibration", "threshold", "deployment")
MAX_PARAM_VALUE = 6000
MAX_PARAMS_PER_BATCH = 100
#: set by a sweep for the runs it launches in the same process
PARENT_RUN_ENV = names.GRID_PARENT_RUN_ENV
LABEL_TAG = names.LABEL_TAG
FACTOR_NAME_TAG = names.FACTOR_NAME_TAG
FACTOR_METRIC = names.FACTOR_METRIC
#: what a run records of its data, as tags (the text of the number): constants of the dataset
#: logged as metrics were what MLflow's metric charts and compare view opened on
DATASET_FACTS = ("dataset_rows", "dataset_features", "dataset_positives", "dataset_classes",
                 "dataset_minority_fraction")
#: the tags a group of repeated seeds carries from its first seed, and a report gives a group
#: whose own tags lack them: what its seeds share
GROUP_TAGS = ("strategy", "model", "dataset", "degree", "split", names.LABEL_TAG, names.FACTOR_NAME_TAG,
              names.CLASSES_TAG, *DATASET_FACTS)

_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<secret>[^@/\s]+)@")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|passwd|pwd|token|secret|access_key)=)[^&\s]+")


def dataset_fact(tag: Any, metric: Any = None) -> float:
    """A dataset fact of a run (one of :data:`DATASET_FACTS`) as a number, from its tag's text or,
    for a run logged before the facts were tags, from its metric of the same name; nan where the
    run has neither; a share's tag may be a plain decimal (``0.00005``) or, as earlier runs wrote
    it, in exponent form (``5e-05``). ``dataset_fact(run.data.tags.get(name), run.data.metrics.get(name))``."""
    for value in (tag, metric):
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isnan(number):  # a frame's missing cell is nan: the metric may still have it
            return number
    return float("nan")


def redact(text: str) -> str:
    """Hide passwords in URLs (``scheme://user:***@host``) and in ``?password=`` queries."""
    text = _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _QUERY_SECRET.sub(r"\1***", text)


def redact_tree(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v) for v in value]
    return value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    if isinstance(value, Mapping):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: value}


def run_params(cfg: DictConfig) -> dict[str, str]:
    """The flattened dataset / strategy / model / split / seed config, redacted, as MLflow params."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    chosen = {key: tree[key] for key in PARAM_GROUPS if key in tree}
    params = {}
    for key, value in flatten(chosen).items():
        params[key] = redact(param_text(value))[:MAX_PARAM_VALUE]
    return params


def param_text(value: Any) -> str:
    """A config value as its MLflow param reads (``null`` for None)."""
    return "null" if value is None else str(value)


def config_yaml(cfg: DictConfig) -> str:
    """The whole resolved config, credentials redacted."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    return OmegaConf.to_yaml(OmegaConf.create(redact_tree(tree)))


def default_experiment(cfg: DictConfig) -> str:
    """``tracking.experiment``, or the dataset's name when it is not set."""
    name = cfg.tracking.get("experiment")
    if name:
        return str(name)
    dataset = cfg.dataset
    return str(dataset.get("name") or Path(str(dataset.get("path") or "dataset")).stem)


_experiment_ids: dict[tuple[str, str], str] = {}  # the trials of a sweep look it up once

#: seconds a tracking server that has not answered this command yet gets to answer ``/health``.
#: MLflow's own requests retry a server that is down 7 times with back-off (about 250 s, then a
#: traceback); a server that answered once keeps those retries (a busy server mid-sweep must not
#: fail a trial).
SERVER_PROBE_SECONDS = 5
#: seconds SQLite waits for another process's write lock (as Optuna's storage does)
SQLITE_TIMEOUT = 120
_SERVER_SCHEMES = ("http://", "https://")
_USE = ("sqlite:///path/to/mlflow.db, an MLflow server's http://host:port, or "
        "postgresql://user:password@host/db")


def connect(uri: str, experiment: str) -> str:
    """Point MLflow at ``uri`` and return the experiment's id, creating both when new.

    What cannot be used is a ConfigError in one sentence, said before MLflow's slow retries: a
    scheme MLflow has no store for, a server that does not answer, an SQLite file that cannot
    be written, a deleted experiment, a store MLflow refuses.
    """
    import mlflow

    known = _experiment_ids.get((uri, experiment))
    if known is not None:
        mlflow.set_tracking_uri(uri)
        return known
    with first_use(uri):
        open_store(uri)
        try:
            experiment_id = _find_or_create(mlflow, uri, experiment)
        except ConfigError:
            raise
        except Exception as exc:  # MLflow, SQLAlchemy and HTTP raise many kinds: say it in one sentence
            raise ConfigError(_cannot_use(uri, "tracking.uri", exc)) from None
    _experiment_ids[(uri, experiment)] = experiment_id
    return experiment_id


_waits_for_locks = False


def _wait_for_sqlite_locks() -> None:
    """Every SQLite connection MLflow opens waits :data:`SQLITE_TIMEOUT` s for another process's
    write lock. MLflow opens its engine with sqlite3's default of 5 s, which processes ending
    together on a busy machine (a sweep's leader and workers closing their runs on a stop)
    exceed: the close failed with "database is locked" and left a run RUNNING. MLflow has no
    setting for it; a connect listener on every SQLAlchemy engine is SQLAlchemy's own way."""
    global _waits_for_locks
    if _waits_for_locks:
        return
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_TIMEOUT * 1000}")

    _waits_for_locks = True


def open_store(uri: str, key: str = "tracking.uri") -> Any:
    """An ``MlflowClient`` on ``uri``, once a server it names answered and its scheme is one
    MLflow has a store for; otherwise a ConfigError naming ``key``. The server is asked first:
    MLflow opens a database store (and its retries) as the client is made."""
    from mlflow.tracking import MlflowClient
    from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException

    _wait_for_sqlite_locks()
    if uri.startswith(_SERVER_SCHEMES):
        _probe_server(uri, key)
    elif sqlite_file(uri) is None:
        _probe_database(uri, key)
    try:
        return MlflowClient(tracking_uri=uri)  # looks the scheme up, and opens a database store
    except UnsupportedModelRegistryStoreURIException as exc:
        schemes = ", ".join(scheme for scheme in exc.supported_uri_schemes if scheme)
        raise ConfigError(f"{key}={redact(uri)!r} has a scheme MLflow keeps no runs in; use {_USE} "
                          f"(MLflow's schemes: {schemes}).") from None
    except Exception as exc:  # a missing database driver, a schema MLflow must upgrade...
        raise ConfigError(_cannot_use(uri, key, exc)) from None


def _cannot_use(uri: str, key: str, exc: BaseException) -> str:
    return f"{key}={redact(uri)!r} cannot be used ({redact(first_line(exc))[:300]}); use {_USE}."


def _probe_server(uri: str, key: str) -> None:
    """Ask ``<uri>/health`` once, with a short timeout; any answer counts (an error status from
    a proxy, a TLS handshake MLflow's own settings may accept): only silence is refused. A
    sweep's workers inherit the answer and skip the question."""
    import ssl
    import urllib.error
    import urllib.request

    if _answered(uri):
        return
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=SERVER_PROBE_SECONDS).close()
    except urllib.error.HTTPError:
        pass
    except urllib.error.URLError as exc:
        if not isinstance(exc.reason, ssl.SSLError):
            raise ConfigError(_no_answer(uri, key, exc.reason)) from None
    except (OSError, ValueError) as exc:  # a timeout while reading, a malformed host
        raise ConfigError(_no_answer(uri, key, exc)) from None
    _answered(uri, now=True)


#: the port a database server listens on when its URI names none
_DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}


def _probe_database(uri: str, key: str) -> None:
    """A TCP connection to the database server a SQLAlchemy URI names, with a short timeout:
    MLflow retries creating its engine ten times with back-off (about 100 s) before a traceback.
    A URI without a host (a local socket, in-memory SQLite) or that is no SQLAlchemy URI is
    left to MLflow."""
    import sqlalchemy

    try:
        url = sqlalchemy.engine.make_url(uri)
    except Exception:  # not a database URI (databricks, a folder); MLflow says what it is
        return
    port = url.port or _DATABASE_PORTS.get(url.get_backend_name())
    if not url.host or port is None or _answered(uri):
        return
    try:
        socket.create_connection((url.host, port), timeout=SERVER_PROBE_SECONDS).close()
    except OSError as exc:
        raise ConfigError(f"{key}={redact(uri)!r}: no database server answers at {url.host}:{port} within "
                          f"{SERVER_PROBE_SECONDS} s ({first_line(exc)}); start it or use another {key}, e.g. "
                          "sqlite:///path/to/mlflow.db.") from None
    _answered(uri, now=True)


def _answered(uri: str, now: bool = False) -> bool:
    """Whether the server of ``uri`` answered this command (or the one that started this
    process); ``now`` records that it did, for this process and the ones it starts."""
    import hashlib

    token = hashlib.sha256(uri.encode()).hexdigest()[:16]
    if now:
        os.environ[names.TRACKING_ANSWERED_ENV] = token
    return os.environ.get(names.TRACKING_ANSWERED_ENV) == token


def _no_answer(uri: str, key: str, reason: object) -> str:
    reason = redact(first_line(reason) if isinstance(reason, BaseException) else str(reason))
    return (f"{key}={redact(uri)!r}: no MLflow server answers there within {SERVER_PROBE_SECONDS} s ({reason}); "
            f"start it (mlflow server --host HOST --port PORT) or use another {key}, e.g. "
            "sqlite:///path/to/mlflow.db.")


@contextlib.contextmanager
def first_use(uri: str) -> Iterator[None]:
    """For an SQLite store: its folder made, the file proven writable, and an exclusive lock on
    ``<db>.lock`` held while MLflow opens the store and finds or creates the experiment.

    MLflow creates its tables without a lock when it first opens a new database, so processes
    started together on one (a sweep's workers, ``-m`` jobs, several shells) crash in each
    other's ``CREATE TABLE``; taking turns, the later ones find the tables made. The lock file
    stays: removing it would let a process lock a file another one just unlinked.
    """
    db = sqlite_file(uri)
    if db is None:
        yield
        return
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ConfigError(f"tracking.uri={redact(uri)!r} cannot be written ({exc.filename} is a file, not a "
                          "folder); use a sqlite:/// path in a folder you can write to.") from None
    except OSError as exc:
        raise ConfigError(f"tracking.uri={redact(uri)!r} cannot be written (the folder {db.parent} cannot be "
                          f"made: {exc.strerror}); use a sqlite:/// path in a folder you can write to.") from None
    try:
        lock = os.open(f"{db}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ConfigError(f"tracking.uri={redact(uri)!r} cannot be written (no file can be made in {db.parent}: "
                          f"{exc.strerror}); use a sqlite:/// path in a folder you can write to.") from None
    try:
        with contextlib.suppress(ImportError):  # fcntl is POSIX-only; elsewhere, no lock
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        _check_sqlite_file(uri, db)
        yield
    finally:
        os.close(lock)  # releases the lock


def _check_sqlite_file(uri: str, db: Path) -> None:
    """A write transaction on the file, begun and rolled back: a folder, a file that is not a
    database or cannot be written are one sentence, not MLflow's ten retries (about 100 s)."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(db, timeout=SQLITE_TIMEOUT)) as probe:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
    except sqlite3.Error as exc:
        raise ConfigError(f"tracking.uri={redact(uri)!r} cannot be opened as an SQLite database ({exc}); use "
                          "a sqlite:/// path to a new or existing MLflow database in a folder you can write to."
                          ) from None


def _find_or_create(mlflow: Any, uri: str, experiment: str) -> str:
    artifact_location = None
    db = sqlite_file(uri)
    if db is not None:
        # Next to the database, not MLflow's default ./mlruns under whatever directory the
        # user happened to start from.
        artifact_location = (db.parent / "artifacts").resolve().as_uri()
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        try:
            return mlflow.create_experiment(experiment, artifact_location=artifact_location)
        except Exception:  # another process created it first (a server or a shared database)
            found = mlflow.get_experiment_by_name(experiment)
            if found is None:
                raise
    if found.lifecycle_stage == "deleted":
        raise ConfigError(
            f"tracking.experiment={experiment!r} names a deleted MLflow experiment (id {found.experiment_id}); "
            f"restore it (MLFLOW_TRACKING_URI={redact(uri)} mlflow experiments restore --experiment-id "
            f"{found.experiment_id}) or use another tracking.experiment.")
    return found.experiment_id


@contextlib.contextmanager
def start_run(cfg: DictConfig, run_name: str, tags: dict[str, str]) -> Iterator[Any]:
    """Open the run of one experiment.

    ``tracking.run_id`` continues a run a sweeper created for this trial; otherwise a new run
    is made, nested under ``tracking.parent_run_id`` (or the sweep's parent run) if there is one.
    The run ends FAILED if the body raises, so what was logged before the error stays, and
    KILLED on SIGINT or SIGTERM. Its tags name its host and process (:mod:`imbexp.lifecycle`);
    runs of this experiment whose process is gone are closed first.
    """
    import mlflow

    from imbexp import lifecycle

    experiment_id = connect(str(cfg.tracking.uri), default_experiment(cfg))
    lifecycle.close_dead_runs(str(cfg.tracking.uri), experiment_id, cfg.tracking.get("stale_after_hours"))
    run_id = cfg.tracking.get("run_id")
    all_tags = {**tags, **{str(k): str(v) for k, v in (cfg.tracking.get("tags") or {}).items()},
                **lifecycle.process_tags()}
    if run_id:  # renames the pre-created run and sets the tags in the same call
        _check_run("tracking.run_id", str(run_id), experiment_id, continued=True)
        run = mlflow.start_run(run_id=str(run_id), run_name=run_name, tags=all_tags)
    else:
        given = cfg.tracking.get("parent_run_id")
        if given:
            _check_run("tracking.parent_run_id", str(given), experiment_id, continued=False)
        parent = given or os.environ.get(PARENT_RUN_ENV)
        if parent:
            all_tags[names.PARENT_RUN_TAG] = str(parent)
        run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=all_tags)
    with run, lifecycle.ends_killed_on_stop(run.info.run_id):
        yield run


def _check_run(key: str, run_id: str, experiment_id: str, continued: bool) -> None:
    """``tracking.run_id`` (``continued``) or ``tracking.parent_run_id`` names a run that fits,
    or is a ConfigError naming the id, before anything is written to that run.

    A run is continued only as a sweep hands it over: RUNNING, in this experiment, with no
    params yet and not a sweep's parent. Continuing any other run would rename it, overwrite
    its tags and leave it FAILED when its logged params clash. A parent is any live run of this
    experiment: MLflow would nest under an unknown id without a word, and the run would dangle.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    instead = ("leave it unset for a new run" if continued else
               "leave it unset, or give the id of a run of this experiment")
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):  # not the id's fault
            raise
        raise ConfigError(f"{key}={run_id!r} is not a run in {redact(client.tracking_uri)}; {instead}.") from None
    info = run.info
    if info.experiment_id != experiment_id:
        other = client.get_experiment(info.experiment_id).name
        raise ConfigError(f"{key}={run_id!r} is a run of experiment {other!r} (id {info.experiment_id}), not of "
                          f"this run's experiment (id {experiment_id}); {instead}, or set "
                          f"tracking.experiment={other!r}.")
    if info.lifecycle_stage != "active":
        raise ConfigError(f"{key}={run_id!r} is a deleted run; restore it (mlflow runs restore --run-id {run_id}) "
                          f"or {instead}.")
    if not continued:
        return
    tags = run.data.tags
    if info.status != "RUNNING" or run.data.params or (names.SWEEP_TAG in tags and names.PARENT_RUN_TAG not in tags):
        what = (f"a {info.status} run" if info.status != "RUNNING" else
                "a run that has logged params already" if run.data.params else "a sweep's parent run")
        raise ConfigError(f"{key}={run_id!r} is {what}; only a run a sweep created for its trial (RUNNING, "
                          f"nothing logged yet) is continued: {instead} (tracking.parent_run_id={run_id} nests it).")


def draws_plots(cfg: DictConfig) -> bool:
    """``tracking.plots``: true, false, or auto = in a single run but not in the runs of a sweep
    (four figures cost about as much as fitting a small model; the sweep report draws its
    figures from each run's ``predictions/test.parquet``)."""
    return _option(cfg, "plots")


def logs_model(cfg: DictConfig) -> bool:
    """``tracking.log_model``: true, false, or auto = in a single run but not in the runs of a
    sweep (MLflow's model flavour costs 1-2 s a run, more than many trials' fit)."""
    return _option(cfg, "log_model")


def _option(cfg: DictConfig, key: str) -> bool:
    option = cfg.tracking.get(key, "auto")
    if option != "auto":  # checked by config.validate
        return bool(option)
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN)


def run_as_sweep_job(cfg: DictConfig) -> Any:
    """Run ``cfg`` (:func:`imbexp.run.experiment`) as one of a sweep's runs: a baseline the end of
    a grid or sweep adds. It runs after the jobs, where ``auto`` no longer sees a multirun: it
    would draw four plots and log the model (4-6 s at 200k rows) that the jobs beside it skip.
    What the config sets explicitly is kept."""
    from imbexp.run import experiment

    for key in ("plots", "log_model"):
        if cfg.tracking.get(key, "auto") == "auto":
            cfg.tracking[key] = False
    return experiment(cfg)


def log_model(model: Any) -> None:
    """The fitted model as the run's ``model`` artifact (MLflow's sklearn flavour).

    MLflow saves it with skops, which refuses every type not on an allow-list (LightGBM's
    booster, ``OrderedDict``...) unless they are named trusted. The types of the model this run
    just fitted are trusted, so they are listed; MLflow records them with the model for loading.
    """
    import mlflow
    import skops.io

    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    mlflow.sklearn.log_model(model, name="model", skops_trusted_types=trusted,
                             pip_requirements=model_requirements(trusted))


#: what loading any model of the sklearn flavour saved with skops imports, by module
_BASE_REQUIREMENTS = {"sklearn": "scikit-learn", "skops": "skops", "numpy": "numpy", "scipy": "scipy"}


def model_requirements(type_names: list[str]) -> list[str]:
    """Pinned pip requirements of a model: scikit-learn, skops, numpy, scipy and the package of
    every other type in it (``lightgbm`` for ``lightgbm.basic.Booster``), at the installed versions.

    Written here because MLflow infers them by loading the model in a fresh Python process that
    records its imports: 2-3 s a run, more than the rest of the run on small data. The packages
    of the model's own types are what that process would find besides the flavour's own.
    """
    import sys
    from importlib.metadata import PackageNotFoundError, version

    names = list(_BASE_REQUIREMENTS.values())
    for module in dict.fromkeys(name.split(".", 1)[0] for name in type_names):
        if module in sys.stdlib_module_names or module in _BASE_REQUIREMENTS:
            continue
        try:
            version(module)  # mostly the package is named as its module (lightgbm, xgboost)
            found = [module]
        except PackageNotFoundError:  # else look it up (imblearn -> imbalanced-learn)
            found = _distributions().get(module, [])
        names += [name for name in found if name not in names]
    pinned = []
    for name in names:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    return pinned


@functools.lru_cache(maxsize=1)
def _distributions() -> Mapping[str, list[str]]:
    """Top-level module -> distributions; scans every installed package (0.5 s), so once."""
    from importlib.metadata import packages_distributions

    return packages_distributions()


def log_params(params: dict[str, str]) -> None:
    import mlflow

    items = list(params.items())
    for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
        mlflow.log_params(dict(items[start:start + MAX_PARAMS_PER_BATCH]))


@contextlib.contextmanager
def artifact_dir() -> Iterator[Path]:
    """A scratch folder whose files are logged as artifacts (keeping sub-folders) on exit."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="imbexp-") as tmp:
        root = Path(tmp)
        yield root
        mlflow.log_artifacts(str(root))


def ui_hint(uri: str) -> str:
    """How to open the MLflow UI on this store."""
    path = sqlite_file(uri)
    if path is not None:
        with contextlib.suppress(ValueError):
            path = path.relative_to(Path.cwd())
        return f"mlflow ui --backend-store-uri sqlite:///{path.as_posix()}"
    if uri.startswith(("http://", "https://")):
        return f"open {redact(uri)}"
    return f"mlflow ui --backend-store-uri {redact(uri)}"


@contextlib.contextmanager
def quiet_downloads() -> Iterator[None]:
    """Without MLflow's per-file progress bars, which would bury imbexp's own progress lines
    (the report's, a grid's comparisons) when many runs' artifacts are read."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before
