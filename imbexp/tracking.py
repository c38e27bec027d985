"""MLflow: where runs go, what each run logs, and how sweeps group their runs."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from imbexp import names
from imbexp._paths import sqlite_file

PARAM_GROUPS = ("dataset", "strategy", "model", "split", "seed", "calibration", "threshold", "deployment")
MAX_PARAM_VALUE = 6000
MAX_PARAMS_PER_BATCH = 100
#: set by a sweep for the runs it launches in the same process
PARENT_RUN_ENV = names.GRID_PARENT_RUN_ENV
LABEL_TAG = names.LABEL_TAG
FACTOR_NAME_TAG = names.FACTOR_NAME_TAG
FACTOR_METRIC = names.FACTOR_METRIC

_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<secret>[^@/\s]+)@")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|passwd|pwd|token|secret|access_key)=)[^&\s]+")


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
        text = redact("null" if value is None else str(value))
        params[key] = text[:MAX_PARAM_VALUE]
    return params


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


def connect(uri: str, experiment: str) -> str:
    """Point MLflow at ``uri`` (creating a SQLite file's folder) and return the experiment id."""
    import mlflow

    known = _experiment_ids.get((uri, experiment))
    if known is not None:
        mlflow.set_tracking_uri(uri)
        return known
    _experiment_ids[(uri, experiment)] = experiment_id = _find_or_create(mlflow, uri, experiment)
    return experiment_id


def _find_or_create(mlflow: Any, uri: str, experiment: str) -> str:
    artifact_location = None
    db = sqlite_file(uri)
    if db is not None:
        db_folder = db.parent
        db_folder.mkdir(parents=True, exist_ok=True)
        # Next to the database, not MLflow's default ./mlruns under whatever directory the
        # user happened to start from.
        artifact_location = (db_folder / "artifacts").resolve().as_uri()
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    try:
        return mlflow.create_experiment(experiment, artifact_location=artifact_location)
    except Exception:  # another worker created it first
        found = mlflow.get_experiment_by_name(experiment)
        if found is None:
            raise
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
        run = mlflow.start_run(run_id=str(run_id), run_name=run_name, tags=all_tags)
    else:
        parent = cfg.tracking.get("parent_run_id") or os.environ.get(PARENT_RUN_ENV)
        if parent:
            all_tags[names.PARENT_RUN_TAG] = str(parent)
        run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=all_tags)
    with run, lifecycle.ends_killed_on_stop(run.info.run_id):
        yield run


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
