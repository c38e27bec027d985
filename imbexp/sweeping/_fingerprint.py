"""A study is one experiment: the fingerprint of what it optimises.

The study records, in a user attribute, every key of the config its trials share (dataset,
model, split, objective, seed, metrics, ... resolved), except the searched parameters (the
trials differ there by design) and ``tracking.*`` / ``hydra.*`` (where runs are logged and how
the sweep runs do not change a trial's value), and the few settings that change no trial's valid
objective (:data:`IGNORED_KEYS`, the model's thread count). A file dataset adds the file's size and
modification time. A command whose fingerprint differs from the
study's is refused before anything runs: appending ``dataset.rows=5000`` trials to a
20,000-row study would make its "best" and its report compare two datasets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf

from imbexp import names
from imbexp.errors import ConfigError
from imbexp.models import THREAD_PARAMS
from imbexp.sweeping._space import SearchSpace
from imbexp.sweeping._study import set_user_attr_if
from imbexp.tracking import flatten, redact

#: top-level keys outside the experiment: where it is logged, and Hydra's own settings
IGNORED_ROOTS = ("hydra", "tracking")
#: keys that change no trial's valid objective, so a resume that changes them is the same
#: experiment: test-side output only (bootstrap intervals, the metrics at a deployment
#: prevalence, paired deltas against another run), and the model's thread count (how fast,
#: not what, it fits; a run sets it from IMBEXP_THREADS anyway), and how a file is read
IGNORED_KEYS = ("metrics.bootstrap", "deployment.prevalence", "compare_to", *names.READ_KEYS)
#: with dataset=file, the file's size and modification time beside dataset.path: the same path
#: with other contents is another dataset
FILE_STAMP_KEYS = ("dataset.path.bytes", "dataset.path.modified")
#: differing keys named in the refusal before "and N more"
SHOWN_KEYS = 6


def fingerprint(config: DictConfig, space: SearchSpace, constraints: Sequence[str] = ()) -> dict[str, str]:
    """The shared settings of the study's trials, ``{dotted key: value as JSON}``; with the
    sweep's constraints, which change which trial is best."""
    try:
        tree = OmegaConf.to_container(config, resolve=True, throw_on_missing=False)
    except Exception:  # an interpolation only a trial can resolve: compare the text as written
        tree = OmegaConf.to_container(config, resolve=False)
    searched = space.names
    flat = {}
    for key, value in flatten({k: v for k, v in tree.items() if k not in IGNORED_ROOTS}).items():
        if any(key == name or key.startswith(f"{name}.") for name in searched) or _ignored(key):
            continue
        flat[key] = redact(json.dumps(value, sort_keys=True, default=str))
    flat.update(_file_stamp(tree.get("dataset")))
    if constraints:
        flat["hydra.sweeper.constraints"] = json.dumps(list(constraints))
    return dict(sorted(flat.items()))


def _ignored(key: str) -> bool:
    return key in IGNORED_KEYS or (key.startswith("model.") and key.rsplit(".", 1)[-1] in THREAD_PARAMS)


def _file_stamp(dataset: Any) -> dict[str, str]:
    """``dataset.path``'s size and modification time, for a dataset read from a file (none if
    it is missing: the run says so)."""
    path = dataset.get("path") if isinstance(dataset, dict) else None
    if not isinstance(path, str) or not path:
        return {}
    try:
        stat = Path(path).expanduser().stat()
    except OSError:
        return {}
    modified = datetime.fromtimestamp(stat.st_mtime, tz=UTC).isoformat(timespec="microseconds")
    return dict(zip(FILE_STAMP_KEYS, (json.dumps(stat.st_size), json.dumps(modified)), strict=True))


_NO_DEFAULT = object()


def digest(print_: dict[str, str]) -> str:
    """Eight hex digits that name a fingerprint (for a suggested study name)."""
    return hashlib.sha256(json.dumps(print_, sort_keys=True).encode()).hexdigest()[:8]


def check(storage: optuna.storages.RDBStorage, study: optuna.Study, wanted: dict[str, str]) -> None:
    """Record the fingerprint on a study that has none (a new one, or one made before
    fingerprints), or refuse, in one sentence, a command whose fingerprint differs."""
    text = json.dumps(wanted, sort_keys=True)
    recorded = study.user_attrs.get(names.STUDY_FINGERPRINT_ATTR)
    if recorded is None and set_user_attr_if(storage, study._study_id, names.STUDY_FINGERPRINT_ATTR, None, text):
        return
    if recorded is None:  # another command recorded it a moment ago
        recorded = storage.get_study_user_attrs(study._study_id)[names.STUDY_FINGERPRINT_ATTR]
    # a study recorded before keys were left out, or before file stamps, is compared on the rest
    before = {key: value for key, value in json.loads(recorded).items() if not _ignored(key)}
    wanted = {key: value for key, value in wanted.items() if key in before or key not in FILE_STAMP_KEYS}
    # keys added to the config since the study was recorded, at the value that keeps the old behaviour
    wanted = {key: value for key, value in wanted.items()
              if key in before or json.loads(value) != names.ADDED_KEYS.get(key, _NO_DEFAULT)}
    if before == wanted:
        return
    changed = [key for key in sorted({*before, *wanted}) if before.get(key) != wanted.get(key)]
    shown = ", ".join(f"{key}={_value(before.get(key))} (now {_value(wanted.get(key))})"
                      for key in changed[:SHOWN_KEYS])
    more = f" and {len(changed) - SHOWN_KEYS} more" if len(changed) > SHOWN_KEYS else ""
    raise ConfigError(f"study {study.study_name!r} is another experiment: it was run with {shown}{more}; continue "
                      "it with the same settings, or start a new study with "
                      f"hydra.sweeper.study_name={study.study_name}-{digest(wanted)}.")


def _value(text: str | None) -> Any:
    if text is None:
        return "unset"
    value = json.loads(text)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return value
