"""Rebalancing strategies: training data in; data, labels and sample weights out.

Every strategy honours one protocol, :class:`Strategy`: ``fit_resample(X, y, sample_weight,
random_state)`` returns a :class:`TrainingSet`, and ``correct_probabilities(p)`` maps the
fitted model's scores back to the true class prior where the strategy knows how. Strategies
that only keep and weight rows also answer ``select_rows(y, sample_weight, random_state)``
from the labels alone. :class:`ImblearnSampler` makes any imbalanced-learn sampler one.
"""

from imbexp.strategies._base import RowSelectingStrategy, RowSelection, Strategy, TrainingSet
from imbexp.strategies._downsample import Downsample, DownsampleUpweight
from imbexp.strategies._imblearn import ImblearnSampler
from imbexp.strategies._oversample import RandomOversample, Smote
from imbexp.strategies._weighting import ClassWeight, NoRebalancing

__all__ = [
    "ClassWeight",
    "Downsample",
    "DownsampleUpweight",
    "ImblearnSampler",
    "NoRebalancing",
    "RandomOversample",
    "RowSelectingStrategy",
    "RowSelection",
    "Smote",
    "Strategy",
    "TrainingSet",
]
