"""``python -m imbexp`` / ``imbexp``: the Hydra application."""

from __future__ import annotations

import sys
from typing import Any

import hydra
from omegaconf import DictConfig

from imbexp._paths import config_dir
from imbexp.errors import ImbexpError

#: exit code for a mistake in the user's config or data
USAGE_ERROR = 2


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def _app(cfg: DictConfig) -> Any:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from imbexp.run import run_experiment

    try:
        return run_experiment(cfg)
    except ImbexpError as exc:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the sweeper records the trial as failed
        # A single run: the user's mistake in one sentence, no traceback.
        print(f"imbexp: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(USAGE_ERROR)


def main() -> None:
    """Console entry point."""
    _app()
