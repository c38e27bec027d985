"""Rebalancing strategies: training data in; data, labels and sample weights out.

Every strategy honours one protocol, :class:`Strategy`: ``fit_resample(X, y, sample_weight,
random_state)`` returns a :class:`TrainingSet`, and ``correct_probabilities(p)`` maps the
fitted model's scores back to the true class prior where the strategy knows how.
"""

from imbexp.strategies._base import Strategy, TrainingSet
from imbexp.strategies._downsample import Downsample, DownsampleUpweight
from imbexp.strategies._oversample import RandomOversample, Smote
from imbexp.strategies._weighting import ClassWeight, NoRebalancing

__all__ = [
    "ClassWeight",
    "Downsample",
    "DownsampleUpweight",
    "NoRebalancing",
    "RandomOversample",
    "Smote",
    "Strategy",
    "TrainingSet",
]
