"""``train_test_split`` with the reference's algorithm, so the same seed gives the same rows.

Random split: ``perm = rng.permutation(n)``; test = ``perm[:n_test]``, train = ``perm[n_test:n_test+n_train]``.
Stratified split: scikit-learn's StratifiedShuffleSplit (approximate multivariate hypergeometric mode), as the
reference's ``utils/stratify.py``; only the first of its generated splits is used.
"""

from __future__ import annotations

from math import ceil, floor
from typing import TYPE_CHECKING, Any

from embrace.data.features import ClassLabel

if TYPE_CHECKING:
    import numpy as np

    from embrace.data.dataset import Dataset
    from embrace.data.dataset_dict import DatasetDict


def _sizes(n: int, test_size: float | int | None, train_size: float | int | None) -> tuple[int, int]:
    if test_size is None and train_size is None:
        test_size = 0.25
    for name, size in (("test_size", test_size), ("train_size", train_size)):
        if size is None:
            continue
        if not isinstance(size, (int, float)):
            raise ValueError(f"Invalid value for {name}: {size!r}")
        if isinstance(size, int) and not 0 < size < n or isinstance(size, float) and not 0 < size < 1:
            raise ValueError(f"{name}={size} should be either positive and smaller than the number of samples {n} "
                             "or a float in the (0, 1) range")
    if isinstance(train_size, float) and isinstance(test_size, float) and train_size + test_size > 1:
        raise ValueError(f"The sum of test_size and train_size = {train_size + test_size}, should be in the (0, 1)"
                         " range. Reduce test_size and/or train_size.")
    n_test = ceil(test_size * n) if isinstance(test_size, float) else test_size
    n_train = floor(train_size * n) if isinstance(train_size, float) else train_size
    if train_size is None:
        n_train = n - int(n_test or 0)
    elif test_size is None:
        n_test = n - int(n_train or 0)
    assert n_train is not None and n_test is not None
    if n_train + n_test > n:
        raise ValueError(f"The sum of train_size and test_size = {n_train + n_test}, should be smaller than the "
                         f"number of samples {n}. Reduce test_size and/or train_size.")
    if int(n_train) == 0:
        raise ValueError(f"With n_samples={n}, test_size={test_size} and train_size={train_size}, the resulting "
                         "train set will be empty. Adjust any of the aforementioned parameters.")
    return int(n_train), int(n_test)


def legacy_seed() -> int:
    """A seed drawn from numpy's global RNG (and one step of it), as the reference does when seed=None."""
    import numpy as np

    state = np.random.get_state()
    keys, pos = state[1], int(state[2])  # type: ignore[index]
    np.random.random()
    return int(keys[pos] if pos < 624 else keys[0])


def approximate_mode(class_counts: np.ndarray, n_draws: int, rng: Any) -> np.ndarray:
    """Most likely per-class counts when drawing ``n_draws`` without replacement; ties broken by ``rng``."""
    import numpy as np

    continuous = n_draws * class_counts / class_counts.sum()
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            inds = rng.choice(inds, size=add_now, replace=False)
            floored[inds] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(np.int64)


def stratified_indices(y: np.ndarray, n_train: int, n_test: int, rng: Any) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    classes, y_indices = np.unique(y, return_inverse=True)
    n_classes = classes.shape[0]
    class_counts = np.bincount(y_indices)
    if np.min(class_counts) < 2:
        raise ValueError("The least populated class in the stratify column has only 1 member, which is too few. "
                         "The minimum number of groups for any class cannot be less than 2.")
    if n_train < n_classes or n_test < n_classes:
        raise ValueError(f"train_size={n_train} and test_size={n_test} should be >= the number of classes "
                         f"({n_classes}).")
    class_indices = np.split(np.argsort(y_indices, kind="mergesort"), np.cumsum(class_counts)[:-1])
    n_i = approximate_mode(class_counts, n_train, rng)
    t_i = approximate_mode(class_counts - n_i, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for i in range(n_classes):
        permutation = rng.permutation(class_counts[i])
        perm_indices_class_i = class_indices[i].take(permutation, mode="clip")
        train.extend(perm_indices_class_i[: n_i[i]])
        test.extend(perm_indices_class_i[n_i[i]: n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def train_test_split(ds: Dataset, test_size: float | int | None, train_size: float | int | None, shuffle: bool,
                     stratify_by_column: str | None, seed: int | None, generator: Any) -> DatasetDict:
    import numpy as np

    from embrace.data.dataset_dict import DatasetDict

    if len(ds) == 0:
        return DatasetDict({"train": ds, "test": ds})
    n_train, n_test = _sizes(len(ds), test_size, train_size)
    if generator is None and shuffle:
        generator = np.random.default_rng(legacy_seed() if seed is None else seed)
    if not shuffle:
        if stratify_by_column is not None:
            raise ValueError("Stratified train/test split is not implemented for `shuffle=False`")
        train_idx, test_idx = np.arange(n_train), np.arange(n_train, n_train + n_test)
    elif stratify_by_column is not None:
        if stratify_by_column not in ds.features:
            raise ValueError(f"Key {stratify_by_column} not found in {list(ds.features)}")
        if not isinstance(ds.features[stratify_by_column], ClassLabel):
            raise ValueError(f"Stratifying by column is only supported for ClassLabel column, and column "
                             f"{stratify_by_column} is {type(ds.features[stratify_by_column]).__name__}.")
        labels = ds._rows_table(slice(None)).column(stratify_by_column).to_numpy()
        train_idx, test_idx = stratified_indices(labels, n_train, n_test, generator)
    else:
        permutation = generator.permutation(len(ds))
        test_idx, train_idx = permutation[:n_test], permutation[n_test: n_test + n_train]
    return DatasetDict({"train": ds.select(train_idx), "test": ds.select(test_idx)})
