"""Hydra discovers imbexp's Optuna sweeper here; the logic lives in :mod:`imbexp.sweeping`."""
