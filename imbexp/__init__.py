"""imbexp: experiments and sweeps for class-imbalanced classification, tracked in MLflow."""

from imbexp._paths import register_resolvers

__version__ = "0.1.0"

register_resolvers()
