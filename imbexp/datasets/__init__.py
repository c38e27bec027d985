"""Datasets: every source loads a :class:`Dataset` whose ``y`` is 1 for the positive class (a
multi-class one: the class codes, with the labels in :attr:`Dataset.classes`).

Each kind of dataset is a source class, named from ``conf/dataset/*.yaml`` through
``_target_`` (:class:`Synthetic`, :class:`KnownProb`, :class:`BreastCancer`, :class:`Keel`,
:class:`KeelMulticlass`, :class:`File`); its constructor checks its parameters, so a mistake stops the run before any
data is generated or read. A user adds a data source by writing a class with
``load() -> Dataset``, or just a function returning a :class:`Dataset`, and a YAML file that
names it. Loaded datasets are cached per process, so the trials of a sweep load the data once.

A source may also be readable in batches (:class:`BatchReadable`; the file source is): a large
Parquet file's labels first, then only the feature rows a run uses, so a downsampled run never
holds the whole table in memory.
"""

from imbexp.datasets._base import (
    DEGREES,
    BatchReadable,
    Dataset,
    DataSource,
    column_words,
    degree_of_imbalance,
)
from imbexp.datasets._files import BATCH_READ_MIN_BYTES, File, file
from imbexp.datasets._generators import BreastCancer, KnownProb, Synthetic, breast_cancer, known_prob, synthetic
from imbexp.datasets._keel import Keel, KeelMulticlass, keel, keel_multiclass, keel_multiclass_names, keel_names
from imbexp.datasets._sources import (
    FunctionSource,
    build_source,
    load_dataset,
    read_rows,
    reads_in_batches,
    source_of,
)

__all__ = [
    "BATCH_READ_MIN_BYTES",
    "DEGREES",
    "BatchReadable",
    "BreastCancer",
    "DataSource",
    "Dataset",
    "File",
    "FunctionSource",
    "Keel",
    "KeelMulticlass",
    "KnownProb",
    "Synthetic",
    "breast_cancer",
    "build_source",
    "column_words",
    "degree_of_imbalance",
    "file",
    "keel",
    "keel_multiclass",
    "keel_multiclass_names",
    "keel_names",
    "known_prob",
    "load_dataset",
    "read_rows",
    "reads_in_batches",
    "source_of",
    "synthetic",
]
