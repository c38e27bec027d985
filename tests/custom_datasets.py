"""A user's own data sources, for the tests that need them (importable as ``custom_datasets``):
plain functions returning a Dataset, one of them broken as a user's loader might be, and a class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imbexp.datasets import Dataset


def blobs(rows: int = 600, name: str = "blobs") -> Dataset:
    """Two shifted Gaussian blobs, 10 % positives, features as a plain array."""
    rng = np.random.default_rng(3)
    y = (np.arange(rows) % 10 == 0).astype(int)
    X = rng.standard_normal((rows, 3)) + y[:, None]
    return Dataset(name=name, X=X, y=y)


def classes_one_to_three(name: str = "three_classes") -> Dataset:
    """Labels 1, 2, 3 left as the file had them: not the 0/1 a Dataset holds."""
    return Dataset(name=name, X=np.zeros((9, 2)), y=np.array([1, 2, 3] * 3))


def not_a_dataset(name: str = "tuple") -> tuple:
    """Features and labels, but not wrapped in a Dataset."""
    return np.zeros((4, 2)), np.array([0, 1, 0, 1])


@dataclass
class Blobs:
    """The blobs as a source class: parameters in the constructor, the data from load()."""

    rows: int = 600
    name: str = "blob_class"

    def load(self) -> Dataset:
        return blobs(self.rows, self.name)


class NoLoad:
    """A class that is not a data source."""
