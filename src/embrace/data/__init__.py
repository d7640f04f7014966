"""Arrow-backed datasets with the Hugging Face ``datasets`` API (see docs/datasets.md).

Importing this package loads pyarrow (the storage engine) but not torch, pandas or numpy-heavy formatters;
those load when a format or method needs them.
"""

from __future__ import annotations

from embrace.data.caching import disable_caching, enable_caching, is_caching_enabled
from embrace.data.combine import concatenate_datasets, interleave_datasets
from embrace.data.dataset import Dataset
from embrace.data.dataset_dict import DatasetDict
from embrace.data.disk import load_from_disk
from embrace.data.errors import BadRowsWarning, CorruptDatasetError, DatasetNotFoundError, SchemaError
from embrace.data.features import Array2D, ClassLabel, Features, LargeList, List, Sequence, Value
from embrace.data.iterable import IterableDataset, IterableDatasetDict
from embrace.data.loading import load_dataset

__all__ = [
    "Array2D", "BadRowsWarning", "ClassLabel", "CorruptDatasetError", "Dataset", "DatasetDict",
    "DatasetNotFoundError", "Features", "IterableDataset", "IterableDatasetDict", "LargeList", "List",
    "SchemaError", "Sequence", "Value", "concatenate_datasets", "disable_caching", "enable_caching",
    "interleave_datasets", "is_caching_enabled", "load_dataset", "load_from_disk",
]
