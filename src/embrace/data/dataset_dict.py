"""``DatasetDict``: a dict of split name -> ``Dataset`` whose methods apply to every split."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from embrace.data.dataset import Dataset


class DatasetDict(dict[str, Dataset]):
    """``{"train": Dataset, "test": Dataset, ...}``; ``dd.map(...)`` maps every split and returns a new dict."""

    def _each(self, method: str, *args: Any, **kwargs: Any) -> DatasetDict:
        return DatasetDict({name: getattr(ds, method)(*args, **kwargs) for name, ds in self.items()})

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str) and key not in self and self:
            raise KeyError(f"Split {key!r} not found; splits are {list(self)}.")
        return super().__getitem__(key)

    def __repr__(self) -> str:
        body = ",\n".join(f"    {name}: " + repr(ds).replace("\n", "\n    ") for name, ds in self.items())
        return "DatasetDict({\n" + body + "\n})"

    @property
    def num_rows(self) -> dict[str, int]:
        return {name: ds.num_rows for name, ds in self.items()}

    @property
    def column_names(self) -> dict[str, list[str]]:
        return {name: ds.column_names for name, ds in self.items()}

    @property
    def num_columns(self) -> dict[str, int]:
        return {name: ds.num_columns for name, ds in self.items()}

    @property
    def shape(self) -> dict[str, tuple[int, int]]:
        return {name: ds.shape for name, ds in self.items()}

    @property
    def cache_files(self) -> dict[str, list[dict[str, str]]]:
        return {name: ds.cache_files for name, ds in self.items()}

    def map(self, function: Callable[..., Any] | None = None, **kwargs: Any) -> DatasetDict:
        return self._each("map", function, **kwargs)

    def filter(self, function: Callable[..., Any] | None = None, **kwargs: Any) -> DatasetDict:
        return self._each("filter", function, **kwargs)

    def shuffle(self, seeds: int | dict[str, int | None] | None = None, seed: int | None = None,
                **kwargs: Any) -> DatasetDict:
        """Shuffle each split; ``seeds`` may give one seed per split."""
        if seed is not None and seeds is not None:
            raise ValueError("Please specify seed or seeds, not both.")
        chosen = seeds if seeds is not None else seed
        per_split = chosen if isinstance(chosen, dict) else {name: chosen for name in self}
        return DatasetDict({name: ds.shuffle(seed=per_split.get(name), **kwargs) for name, ds in self.items()})

    def sort(self, column_names: str | list[str], **kwargs: Any) -> DatasetDict:
        return self._each("sort", column_names, **kwargs)

    def rename_column(self, original_column_name: str, new_column_name: str) -> DatasetDict:
        return self._each("rename_column", original_column_name, new_column_name)

    def rename_columns(self, column_mapping: dict[str, str]) -> DatasetDict:
        return self._each("rename_columns", column_mapping)

    def remove_columns(self, column_names: str | list[str]) -> DatasetDict:
        return self._each("remove_columns", column_names)

    def select_columns(self, column_names: str | list[str]) -> DatasetDict:
        return self._each("select_columns", column_names)

    def cast(self, features: Any) -> DatasetDict:
        return self._each("cast", features)

    def cast_column(self, column: str, feature: Any) -> DatasetDict:
        return self._each("cast_column", column, feature)

    def class_encode_column(self, column: str, include_nulls: bool = False) -> DatasetDict:
        """Encode ``column`` with one ``ClassLabel`` shared by all splits (names from every split)."""
        from embrace.data.features import ClassLabel

        names = sorted({str(v) for ds in self.values() for v in ds.unique(column) if include_nulls or v is not None})
        return self._each("cast_column", column, ClassLabel(names=names))

    def flatten(self, max_depth: int = 16) -> DatasetDict:
        return self._each("flatten", max_depth=max_depth)

    def flatten_indices(self) -> DatasetDict:
        return self._each("flatten_indices")

    def unique(self, column: str) -> dict[str, list[Any]]:
        return {name: ds.unique(column) for name, ds in self.items()}

    def with_format(self, type: str | None = None, columns: Any = None, output_all_columns: bool = False,
                    **format_kwargs: Any) -> DatasetDict:
        return self._each("with_format", type, columns, output_all_columns, **format_kwargs)

    def set_format(self, type: str | None = None, columns: Any = None, output_all_columns: bool = False,
                   **format_kwargs: Any) -> None:
        for ds in self.values():
            ds.set_format(type, columns, output_all_columns, **format_kwargs)

    def reset_format(self) -> None:
        for ds in self.values():
            ds.reset_format()

    def with_transform(self, transform: Callable[..., Any] | None, columns: Any = None,
                       output_all_columns: bool = False) -> DatasetDict:
        return self._each("with_transform", transform, columns, output_all_columns)

    def set_transform(self, transform: Callable[..., Any] | None, columns: Any = None,
                      output_all_columns: bool = False) -> None:
        for ds in self.values():
            ds.set_transform(transform, columns, output_all_columns)

    def cleanup_cache_files(self) -> dict[str, int]:
        return {name: ds.cleanup_cache_files() for name, ds in self.items()}

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> Any:
        """Upload every split as parquet shards to a hub dataset repo in one commit (see ``Dataset.push_to_hub``;
        ``num_shards`` is a ``{split: n}`` dict here)."""
        from embrace.data.hub_push import push_splits_to_hub

        return push_splits_to_hub(dict(self), repo_id, **kwargs)

    def save_to_disk(self, dataset_dict_path: str | os.PathLike[str], num_shards: dict[str, int] | None = None,
                     **_: Any) -> None:
        from embrace.data.disk import save_dataset_dict

        save_dataset_dict(self, os.fspath(dataset_dict_path), num_shards)

    @staticmethod
    def load_from_disk(dataset_dict_path: str | os.PathLike[str], keep_in_memory: bool | None = None) -> DatasetDict:
        from embrace.data.disk import load_from_disk

        out = load_from_disk(dataset_dict_path, keep_in_memory)
        if not isinstance(out, DatasetDict):
            raise ValueError(f"{dataset_dict_path} holds a single Dataset; use Dataset.load_from_disk.")
        return out


__all__ = ["DatasetDict", "Dataset"]
