"""Reading the runs a report is about from MLflow: a sweep's children or an experiment's leaf runs,
as the frame ``mlflow.search_runs`` returns (metric columns without their ``metrics.`` prefix)."""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from imbexp import names
from imbexp._paths import runs_dir, sqlite_file
from imbexp.config import Objective, parse_objective
from imbexp.errors import ImbexpError
from imbexp.intervals import bounds_of, seed_interval
from imbexp.report._describe import describe_runs
from imbexp.tracking import GROUP_TAGS, open_store, redact

PARENT_TAG = names.PARENT_RUN_TAG
_PARENT_COLUMN = f"tags.{PARENT_TAG}"
# the names a run of repeated seeds, a paired comparison and a run without intervals are logged under
REPEATS_TAG, REPEAT_GROUP_TAG, REPEAT_TAG = names.REPEATS_TAG, names.REPEAT_GROUP_TAG, names.REPEAT_TAG
BASELINE_RUN_TAG, FACTOR1_RUN_TAG = names.BASELINE_RUN_TAG, names.FACTOR1_RUN_TAG
COMPARED_TO_TAG, NO_INTERVALS_TAG = names.COMPARED_TO_TAG, names.NO_INTERVALS_TAG
_GROUP_COLUMN = f"tags.{REPEAT_GROUP_TAG}"
_REPEATS_COLUMN = f"tags.{REPEATS_TAG}"
#: the metrics a group summarises over its seeds (mean, ``_sd``, and for test ``_seed_ci_low/high``)
_SEED_SUMMARISED = re.compile(r"((valid|test|train)_.+|fit_seconds|threshold_tuned|imbexp\.factor)")


class ReportError(ImbexpError):
    """The report cannot be built from what was asked for (explained in one sentence)."""


def progress(message: str) -> None:
    """Report progress on stderr, so stdout stays clean for scripts."""
    print(f"imbexp report: {message}", file=sys.stderr, flush=True)


@dataclass
class ReportRuns:
    """The runs one report is about: a sweep's children or an experiment's leaf runs.

    A run of repeated seeds is one configuration: its group run (tag ``imbexp.repeats``) is in
    ``runs`` and summarises its seeds (the mean of each metric, ``_sd`` and, for test metrics, the
    t interval across seeds ``_seed_ci_low`` / ``_seed_ci_high``); its seed runs are in ``seeds``
    (column ``group``: the group's run id, ``repeat``: the seed's index), not in ``runs``, so no
    table or figure counts one configuration k times.
    """

    client: Any = field(repr=False)
    tracking_uri: str
    title: str
    name: str
    experiments: list[str]
    runs: pd.DataFrame
    objective: Objective
    parent: Any | None = None
    facets: list[str] = field(default_factory=list)
    seeds: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the status the parent run is closed with right after the report, where its writer knows
    #: it (a sweep's end writes the report while the parent is still RUNNING)
    parent_status: str | None = None

    @property
    def finished(self) -> pd.DataFrame:
        """The runs that finished with test metrics: what the plots and the leaderboard use."""
        return _finished(self.runs)

    def seeds_of(self, group_run_id: str) -> pd.DataFrame:
        """A group's seed runs, in seed order."""
        if self.seeds.empty:
            return self.seeds
        return self.seeds[self.seeds["group"] == group_run_id].sort_values(["repeat", "start_time"])

    def representative(self, row: pd.Series) -> pd.Series:
        """The run whose predictions stand for ``row`` in a figure: the run itself, or a group's
        first finished seed (a group logs no predictions of its own; its seeds' test rows differ)."""
        if not row.get("is_group"):
            return row
        seeds = _finished(self.seeds_of(row["run_id"]))
        return seeds.iloc[0] if len(seeds) else row


def _with_series(runs: pd.DataFrame, facets: Sequence[str]) -> pd.DataFrame:
    """``runs`` with each finished run's series (``series``) and its colour (``series_color``),
    made once over the report's finished runs, so that a run has one name and one colour in every
    figure, whatever subset of the runs a figure draws."""
    from imbexp.report._tables import report_series, series_colors

    finished = _finished(runs)
    if finished.empty:
        return runs.assign(series=None, series_color=None)
    series = report_series(finished, facets)
    palette = series_colors(series)
    return runs.assign(series=series, series_color=series.map(palette))


def _finished(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty or "test_pr_auc" not in frame:
        return frame.iloc[0:0]
    return frame[(frame["status"] == "FINISHED") & frame["test_pr_auc"].notna()]


def default_tracking_uri() -> str:
    """``sqlite:///<project root>/runs/mlflow.db``, the store ``python -m imbexp`` writes to."""
    return f"sqlite:///{(runs_dir() / 'mlflow.db').as_posix()}"


def _client(tracking_uri: str):
    """The report's MLflow client; a store that is missing, of an unknown scheme or a server that
    does not answer is one sentence (tracking.open_store), not MLflow's minutes of retries."""
    db = sqlite_file(tracking_uri)
    if db is not None and not db.is_file():  # opening it would create an empty store
        raise ReportError(f"there is no MLflow store at {db}; run an experiment or a sweep first "
                          "(python -m imbexp ...), or give --tracking-uri.")
    return open_store(tracking_uri, key="--tracking-uri")


@contextlib.contextmanager
def _tracking_uri(uri: str) -> Iterator[None]:
    """``mlflow.search_runs`` reads the process's tracking URI; point it at the report's store
    for the search (inside a sweep it already is) and back."""
    import mlflow

    before, environment = mlflow.get_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)
        # set_tracking_uri also exports the URI to child processes; leave that as it was
        if environment is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = environment


def search(tracking_uri: str, experiment_ids: list[str], names: dict[str, str], filter_string: str = "",
           **options: Any) -> pd.DataFrame:
    """The runs as one frame: ``run_id``, ``status``, times, ``artifact_uri``, ``params.*``,
    ``tags.*`` and the metrics by their own names, plus ``run_name`` and ``experiment`` (its name)."""
    import mlflow

    with _tracking_uri(tracking_uri):
        frame = mlflow.search_runs(experiment_ids, filter_string=filter_string, output_format="pandas", **options)
    frame = frame.rename(columns=lambda column: column.removeprefix("metrics."))
    run_name = frame["tags.mlflow.runName"] if "tags.mlflow.runName" in frame else pd.Series("", index=frame.index)
    return frame.assign(run_name=run_name.fillna(""), experiment=frame["experiment_id"].map(names))


def _experiment_names(client) -> dict[str, str]:
    return {e.experiment_id: e.name for e in client.search_experiments()}


def _describe_experiments(names: Iterable[str]) -> str:
    names = sorted(names)
    return ", ".join(names) if names else "none yet"


def recent_parent_runs(client, experiment_ids: list[str] | None = None, limit: int = 5) -> list[Any]:
    """The newest runs that have child runs (sweep parents), newest first."""
    if experiment_ids is None:
        experiment_ids = list(_experiment_names(client))
    if not experiment_ids:
        return []
    recent = search(client.tracking_uri, experiment_ids, {}, max_results=2000,
                    order_by=["attributes.start_time DESC"])
    parents = list(_top_parents(recent).dropna().unique()[:limit]) if _PARENT_COLUMN in recent else []
    found = []
    for run_id in parents:
        with contextlib.suppress(Exception):  # a parent deleted after its children ran
            found.append(client.get_run(run_id))
    return sorted(found, key=lambda r: r.info.start_time or 0, reverse=True)


def _top_parents(runs: pd.DataFrame) -> pd.Series:
    """Each run's parent, where a seed run's parent is its group's own parent (the sweep or grid
    it ran in) when the group has one: a report of the group's sweep holds the group."""
    parents = runs[_PARENT_COLUMN]
    if _GROUP_COLUMN not in runs:
        return parents
    parent_of = dict(zip(runs["run_id"], parents, strict=True))
    above = runs[_GROUP_COLUMN].map(lambda group: parent_of.get(group) if isinstance(group, str) else None)
    return above.where(above.notna(), parents)


def _describe_parents(runs: Sequence[Any], names: dict[str, str]) -> str:
    if not runs:
        return "no sweep parent runs yet"
    items = [f"{run.info.run_id} ({run.info.run_name or 'unnamed'}, experiment "
             f"{names.get(run.info.experiment_id, run.info.experiment_id)}, {_when(run.info.start_time)})"
             for run in runs]
    return "recent sweep parent runs: " + "; ".join(items)


def _when(millis: float | None) -> str:
    if millis is None or (isinstance(millis, float) and math.isnan(millis)):
        return "-"
    return datetime.fromtimestamp(float(millis) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def load_runs(tracking_uri: str, parent_run_id: str | None = None, experiment: str | None = None) -> ReportRuns:
    """Find the runs of a report.

    ``parent_run_id`` (``"latest"`` = the newest sweep parent, within ``experiment`` if given):
    the parent's child runs (``tags.mlflow.parentRunId``), whichever sweeper made them.
    ``experiment`` alone: every run of the experiment that is not itself a parent.
    """
    client = _client(tracking_uri)
    names = _experiment_names(client)
    experiment_id = _experiment_id(client, tracking_uri, experiment, names)
    if parent_run_id is None and experiment is None:
        raise ReportError("name what to report on: --experiment NAME or --run PARENT_RUN_ID (or --run latest); "
                          f"experiments: {_describe_experiments(names.values())}; "
                          f"{_describe_parents(recent_parent_runs(client), names)}.")
    parent = _parent(client, tracking_uri, parent_run_id, experiment, experiment_id, names)
    if parent is not None:
        experiments = [names.get(parent.info.experiment_id, parent.info.experiment_id)]
        name = f"{names.get(parent.info.experiment_id, 'runs')}-{parent.info.run_id[:8]}"
        parent_experiment = parent.info.experiment_id
        runs, title, parent = _runs_of_parent(tracking_uri, parent, names)
        runs, seeds = _seed_runs(tracking_uri, [parent_experiment], names, runs)
    else:
        progress(f"reading the runs of experiment {experiment!r}")
        runs, seeds = _leaf_runs(tracking_uri, experiment_id, names)
        title, name, experiments = f"Experiment {experiment}", str(experiment), [str(experiment)]
    runs, seeds = _with_groups(runs.reset_index(drop=True), seeds.reset_index(drop=True))
    runs, seeds = describe_runs(runs), describe_runs(seeds)
    facets = [column for column in ("dataset", "model") if runs[column].nunique(dropna=True) > 1]
    runs = _with_series(runs, facets)
    counted = f" and {len(seeds)} seed runs of {int(runs['is_group'].sum())} groups" if len(seeds) else ""
    progress(f"{len(runs)} runs ({int((runs['status'] == 'FINISHED').sum())} finished){counted}")
    objective = _objective(tracking_uri, pd.concat([seeds, runs]) if len(seeds) else runs)
    return ReportRuns(client=client, tracking_uri=tracking_uri, title=title, name=_slug(name),
                      experiments=experiments, runs=runs, objective=objective, parent=parent, facets=facets,
                      seeds=seeds)


def _experiment_id(client, tracking_uri: str, experiment: str | None, names: dict[str, str]) -> str | None:
    if experiment is None:
        return None
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ReportError(f"there is no experiment named {experiment!r} in {redact(tracking_uri)}; "
                          f"experiments: {_describe_experiments(names.values())}.")
    return found.experiment_id


def _parent(client, tracking_uri: str, parent_run_id: str | None, experiment: str | None,
            experiment_id: str | None, names: dict[str, str]):
    if parent_run_id != "latest":
        return None if parent_run_id is None else _get_run(client, parent_run_id, names)
    parents = recent_parent_runs(client, [experiment_id] if experiment_id else None, limit=1)
    if not parents:
        where = f"experiment {experiment!r}" if experiment else redact(tracking_uri)
        raise ReportError(f"there is no sweep parent run in {where}; experiments: "
                          f"{_describe_experiments(names.values())}.")
    return parents[0]


def _runs_of_parent(tracking_uri: str, parent, names: dict[str, str]):
    """The parent's children, or the run alone when it has none or is a group of seeds (whose
    children are its seeds): (runs, title, parent or None)."""
    progress(f"reading the runs of {parent.info.run_id} ({parent.info.run_name})")
    label = parent.info.run_name or parent.info.run_id
    alone = f"attributes.run_id = '{parent.info.run_id}'"
    if REPEATS_TAG in parent.data.tags:
        return search(tracking_uri, [parent.info.experiment_id], names, filter_string=alone), \
            f"Repeated run {label}", parent
    children = search(tracking_uri, [parent.info.experiment_id], names,
                      filter_string=f"tags.{PARENT_TAG} = '{parent.info.run_id}'")
    if len(children):
        return children, f"Sweep {label}", parent
    return search(tracking_uri, [parent.info.experiment_id], names, filter_string=alone), f"Run {label}", None


def _leaf_runs(tracking_uri: str, experiment_id: str, names: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The experiment's runs that are not parents, a group of seeds counting as a leaf; and the
    seed runs of those groups."""
    everything = search(tracking_uri, [experiment_id], names)
    if _PARENT_COLUMN not in everything:
        return everything, everything.iloc[0:0]
    parents = set(everything[_PARENT_COLUMN].dropna())
    groups = _is_group(everything)
    runs = everything[~everything["run_id"].isin(parents) | groups]
    return _split_seeds(runs)


def _is_group(runs: pd.DataFrame) -> pd.Series:
    if _REPEATS_COLUMN not in runs:
        return pd.Series(False, index=runs.index)
    return runs[_REPEATS_COLUMN].notna()


def _split_seeds(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the runs without the seed runs of groups among them, those seed runs); a seed run whose
    group is not there (deleted, or another report's) stays a run of its own."""
    if _GROUP_COLUMN not in runs:
        return runs, runs.iloc[0:0]
    groups = set(runs.loc[_is_group(runs), "run_id"])
    is_seed = runs[_GROUP_COLUMN].isin(groups)
    return runs[~is_seed], runs[is_seed]


def _seed_runs(tracking_uri: str, experiment_ids: list[str], names: dict[str, str],
               runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, the seed runs of the groups among them), each group's seeds found by its tag."""
    if not _is_group(runs).any():
        return _split_seeds(runs)
    seeds = search(tracking_uri, experiment_ids, names, filter_string=f"tags.{REPEAT_GROUP_TAG} LIKE '%'")
    runs, _ = _split_seeds(runs)  # a group reported on its own has its seeds as "children"
    seeds = seeds[seeds[_GROUP_COLUMN].isin(set(runs.loc[_is_group(runs), "run_id"]))]
    return runs, seeds


def _with_groups(runs: pd.DataFrame, seeds: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mark the groups (``is_group``, ``seeds``: how many seed runs) and the seeds (``group``,
    ``repeat``). A group takes what it lacks from its seeds: the tags and params it is described
    by, from its first seed, and the summary of each metric over its finished seeds (a group
    stopped before it logged its summary still reads as the mean of its seeds)."""
    runs = runs.copy()
    runs["is_group"] = _is_group(runs).to_numpy()
    seeds = seeds.assign(group=seeds[_GROUP_COLUMN] if _GROUP_COLUMN in seeds else None,
                         repeat=(seeds[f"tags.{REPEAT_TAG}"].map(_number) if f"tags.{REPEAT_TAG}" in seeds
                                 else float("nan")))
    runs["seeds"] = runs["run_id"].map(seeds["group"].value_counts()).where(runs["is_group"])
    if seeds.empty:
        return runs, seeds
    inherited = [c for c in seeds if c.startswith("params.")]
    inherited += [f"tags.{tag}" for tag in GROUP_TAGS if f"tags.{tag}" in seeds]
    summarised = [c for c in seeds if _SEED_SUMMARISED.fullmatch(c) and not _derived(c)
                  and pd.api.types.is_numeric_dtype(seeds[c])]
    additions: dict[str, dict[int, Any]] = {}
    for index in runs.index[runs["is_group"]]:
        part = seeds[seeds["group"] == runs.at[index, "run_id"]].sort_values(["repeat", "start_time"])
        if part.empty:
            continue
        for name in inherited:
            if pd.isna(runs.at[index, name]) if name in runs else True:
                additions.setdefault(name, {})[index] = part[name].iloc[0]
        done = part[part["status"] == "FINISHED"]
        for name in summarised:
            keys = [name, f"{name}_sd"] + ([f"{name}_seed_ci_low", f"{name}_seed_ci_high"]
                                           if name.startswith("test_") else [])
            lacking = [key for key in keys if key not in runs or pd.isna(runs.at[index, key])]
            if not lacking:  # what the group logged itself stays
                continue
            summary = dict(zip(keys, seed_interval(done[name].dropna().astype(float), bounds_of(name)), strict=False))
            for key in lacking:
                if not math.isnan(summary[key]):
                    additions.setdefault(key, {})[index] = summary[key]
    new: dict[str, pd.Series] = {}
    for name, values in additions.items():
        added = pd.Series(values, dtype=object if name.startswith(("tags.", "params.")) else float)
        if name in runs:
            runs[name] = runs[name].where(~runs.index.isin(added.index), added)
        else:
            new[name] = added.reindex(runs.index)
    return pd.concat([runs, pd.DataFrame(new, index=runs.index)], axis=1), seeds


def _derived(name: str) -> bool:
    """A metric that is already a summary or an interval bound: its seeds' mean means nothing."""
    return name.endswith(("_sd", "_std", "_ci_low", "_ci_high", "_p")) or "_delta" in name


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def _get_run(client, run_id: str, names: dict[str, str]):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        raise ReportError(
            f"there is no run with id {run_id!r}; {_describe_parents(recent_parent_runs(client), names)} "
            f"(or --experiment NAME with one of: {_describe_experiments(names.values())})."
        ) from None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "report"


def download(tracking_uri: str, artifact_uri: str, path: str, dst: str) -> str:
    """One artifact of a run into the folder ``dst``. Found from the run's artifact location:
    by run id (``runs:/``) MLflow looks the run and its logged models up first, several times
    slower than the download itself."""
    from mlflow.artifacts import download_artifacts

    return download_artifacts(artifact_uri=f"{artifact_uri.rstrip('/')}/{path}", dst_path=dst,
                              tracking_uri=tracking_uri)


def _objective(tracking_uri: str, runs: pd.DataFrame) -> Objective:
    """The objective the runs were measured for, read from a run's ``config.yaml`` (seed runs
    first: a group of seeds may have logged none of its own)."""
    from omegaconf import OmegaConf

    finished = runs[runs["status"] == "FINISHED"]
    for artifact_uri in finished["artifact_uri"].head(3):
        try:
            with tempfile.TemporaryDirectory(prefix="imbexp-report-") as tmp:
                cfg = OmegaConf.load(download(tracking_uri, artifact_uri, "config.yaml", tmp))
            return parse_objective(cfg)
        except Exception:  # an older run without config.yaml, or one from another tool
            continue
    return Objective(("pr_auc",), ("maximize",))


def read_predictions(tracking_uri: str, artifact_uris: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Each run's test predictions, by run id, from ``{run id: artifact location}``."""
    frames = {}
    with tempfile.TemporaryDirectory(prefix="imbexp-report-") as tmp:
        for number, (run_id, artifact_uri) in enumerate(artifact_uris.items(), start=1):
            if number == 1 or number % 10 == 0 or number == len(artifact_uris):
                progress(f"reading test predictions {number}/{len(artifact_uris)}")
            try:
                path = download(tracking_uri, artifact_uri, "predictions/test.parquet", f"{tmp}/{run_id}")
                frames[run_id] = pd.read_parquet(path)
            except Exception:  # a failed run logged no predictions
                continue
    return frames


_READERS = {"csv": pd.read_csv, "json": pd.read_json, "parquet": pd.read_parquet}


def parent_artifacts(data: ReportRuns) -> tuple[list[tuple[str, bytes]], list[tuple[str, pd.DataFrame]]]:
    """PNG plots and Pareto tables a sweeper logged to the parent run (two folder levels deep)."""
    if data.parent is None:
        return [], []
    try:
        paths = _artifact_paths(data.client, data.parent.info.run_id)
    except Exception:
        return [], []
    images, tables = [], []
    with tempfile.TemporaryDirectory(prefix="imbexp-report-") as tmp:
        for path in paths:
            lower = path.lower()
            kind = lower.rsplit(".", 1)[-1]
            if kind != "png" and not ("pareto" in lower and kind in _READERS):
                continue
            try:
                local = download(data.tracking_uri, data.parent.info.artifact_uri, path, tmp)
                if kind == "png":
                    images.append((path, Path(local).read_bytes()))
                else:
                    tables.append((path, _READERS[kind](local)))
            except Exception:  # an artifact that cannot be read is left out, not fatal
                continue
    return images, tables


def _artifact_paths(client, run_id: str) -> list[str]:
    paths: list[str] = []
    for item in client.list_artifacts(run_id):
        if item.is_dir and item.path != "report":
            paths += [sub.path for sub in client.list_artifacts(run_id, item.path) if not sub.is_dir]
        elif not item.is_dir:
            paths.append(item.path)
    return paths
