"""``Dataset.push_to_hub`` / ``DatasetDict.push_to_hub``: parquet shards in a hub dataset repo, the layout the
reference uses, so ``load_dataset("org/name")`` (embrace's or the reference's) reads them back.

Layout: ``data/<split>-00000-of-0000N.parquet`` for the default config (``<config>/<split>-...`` otherwise). Each
file carries the features in its Arrow schema metadata (``huggingface`` key), so ClassLabel names and nested types
survive the round trip. Pushing a split replaces that split's old shards in the same commit; other splits stay. A
``README.md`` dataset card (configs in its front matter) is added when the repo has none; an existing card is
never overwritten.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

from embrace.errors import EmbraceError

_SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")
DEFAULT_MAX_SHARD_SIZE = "500MB"


class PushToHubError(EmbraceError, ValueError):
    """Invalid arguments to ``push_to_hub`` (split or config name, shard counts)."""


def _shard_count(dataset: Any, max_shard_size: int | str | None, num_shards: int | None) -> int:
    if num_shards is not None:
        if num_shards < 1:
            raise PushToHubError(f"num_shards must be >= 1, got {num_shards}")
        return min(num_shards, max(len(dataset), 1))
    from embrace.models.loading import parse_size  # the one size parser ("500MB", "1GiB", ints)

    limit = parse_size(max_shard_size or DEFAULT_MAX_SHARD_SIZE)
    return max(1, math.ceil(dataset.to_arrow().nbytes / limit))


def _card(repo_id: str, data_dir: str, config_name: str, splits: dict[str, int]) -> str:
    meta = {"configs": [{"config_name": config_name,
                         "data_files": [{"split": s, "path": f"{data_dir}/{s}-*"} for s in splits]}]}
    rows = "\n".join(f"| {split} | {count} |" for split, count in splits.items())
    return (f"---\n{json.dumps(meta, indent=2)}\n---\n\n# {repo_id.split('/')[-1]}\n\n"
            f"Uploaded with embrace `push_to_hub`.\n\n| split | rows |\n|---|---|\n{rows}\n")


def push_splits_to_hub(splits: dict[str, Any], repo_id: str, *, config_name: str = "default",
                       private: bool | None = None, token: str | bool | None = None, revision: str | None = None,
                       create_pr: bool = False, max_shard_size: int | str | None = None,
                       num_shards: dict[str, int] | None = None, commit_message: str | None = None,
                       commit_description: str | None = None, endpoint: str | None = None) -> Any:
    """Upload ``{split: Dataset}`` as parquet shards in one commit; returns the ``CommitInfo``."""
    import pyarrow.parquet as pq

    from embrace.hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from embrace.hub.errors import RevisionNotFoundError

    for split in splits:
        if not _SPLIT_NAME.match(split):
            raise PushToHubError(f"Split name {split!r} must match {_SPLIT_NAME.pattern} (letters, digits, '_', '.')")
    if not re.match(r"^[\w.-]+$", config_name):
        raise PushToHubError(f"config_name {config_name!r} must be letters, digits, '_', '-' or '.'")
    data_dir = "data" if config_name == "default" else config_name
    api = HfApi(endpoint=endpoint, token=token)
    repo_id = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True).repo_id
    if revision and revision != "main" and not create_pr:
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    try:
        existing = api.list_repo_files(repo_id, repo_type="dataset", revision=revision)
    except RevisionNotFoundError:
        existing = []
    with tempfile.TemporaryDirectory() as tmp:
        operations: list[Any] = []
        counts: dict[str, int] = {}
        for split, dataset in splits.items():
            table = dataset.to_arrow().replace_schema_metadata(dataset.features.arrow_schema.metadata)
            shards = _shard_count(dataset, max_shard_size, (num_shards or {}).get(split))
            rows_per_shard = math.ceil(table.num_rows / shards) if table.num_rows else 0
            counts[split] = table.num_rows
            for index in range(shards):
                name = f"{data_dir}/{split}-{index:05d}-of-{shards:05d}.parquet"
                local = Path(tmp) / name
                local.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table.slice(index * rows_per_shard, rows_per_shard), local)
                operations.append(CommitOperationAdd(name, local))
            written = {op.path_in_repo for op in operations}
            stale = re.compile(rf"^{re.escape(data_dir)}/{re.escape(split)}-\d{{5}}-of-\d{{5}}.*\.parquet$")
            operations += [CommitOperationDelete(path) for path in existing if stale.match(path) and path not in written]
        if "README.md" not in existing:
            operations.append(CommitOperationAdd("README.md", _card(repo_id, data_dir, config_name, counts).encode()))
        message = commit_message or f"Upload dataset ({', '.join(splits)})"
        return api.create_commit(repo_id, operations, commit_message=message, commit_description=commit_description,
                                 revision=revision, repo_type="dataset", create_pr=create_pr)


def push_dataset_to_hub(dataset: Any, repo_id: str, *, split: str | None = None, **kwargs: Any) -> Any:
    """``Dataset.push_to_hub``: one split (``split``, else the dataset's own split name, else ``train``)."""
    num_shards = kwargs.pop("num_shards", None)
    name = split or dataset.split or "train"
    return push_splits_to_hub({str(name): dataset}, repo_id,
                              num_shards={str(name): num_shards} if num_shards is not None else None, **kwargs)
