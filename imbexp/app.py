"""``python -m imbexp`` / ``imbexp``: the Hydra application."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from imbexp._paths import config_dir


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def _app(cfg: DictConfig) -> Any:
    from imbexp.run import run_experiment

    return run_experiment(cfg)


def main() -> None:
    """Console entry point."""
    _app()
