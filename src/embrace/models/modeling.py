"""The base model: ``from_pretrained`` / ``save_pretrained``, dtype and device handling, tied weights.

Loading works in five steps: build the model on the ``meta`` device (no memory, no random init) -> read the
checkpoint tensor by tensor (safetensors memory-mapped) -> rename keys with the family's reversible rules ->
assign each tensor in place after checking its shape -> report keys that are missing or unexpected. Only weights
the checkpoint does not have (a fresh task head) are initialised, and that is reported, not silent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from embrace.errors import CheckpointError, EmbraceFileNotFoundError
from embrace.io import atomic_write_text, atomic_writer
from embrace.models.configuration import PretrainedConfig, pop_hub_kwargs
from embrace.models.loading import (
    SAFE_WEIGHTS_INDEX_NAME,
    SAFE_WEIGHTS_NAME,
    WEIGHT_FILE_CANDIDATES,
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
    RenameRule,
    find_weight_files,
    iter_checkpoint,
    parse_size,
    rename_to_checkpoint,
    rename_to_model,
)

logger = logging.getLogger("embrace.models")
_ModelT = TypeVar("_ModelT", bound="PreTrainedModel")

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64,
           "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "half": torch.float16,
           "float": torch.float32}


def to_torch_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    name = dtype.removeprefix("torch.")
    if name not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use 'auto', 'float32', 'float16', 'bfloat16' or a torch.dtype")
    return _DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@dataclass
class LoadingReport:
    """What ``from_pretrained`` did with the checkpoint's keys (also logged)."""

    missing_keys: list[str] = field(default_factory=list)       # model weights not in the checkpoint (initialised)
    unexpected_keys: list[str] = field(default_factory=list)    # checkpoint tensors the model has no place for
    mismatched_keys: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)


class PreTrainedModel(nn.Module):
    """Base of every model. Subclasses set ``config_class``, ``base_model_prefix`` and, when needed,
    ``rename_rules`` (checkpoint name <-> module name), ``tied_weights`` (key -> key it shares storage with) and
    ``ignore_unexpected`` (regexes of checkpoint keys that are expected to be unused, e.g. old buffers)."""

    config_class: ClassVar[type[PretrainedConfig]] = PretrainedConfig
    base_model_prefix: ClassVar[str] = ""
    rename_rules: ClassVar[tuple[RenameRule, ...]] = ()
    tied_weights: ClassVar[dict[str, str]] = {}     # shared when config.tie_word_embeddings (output <- input emb.)
    aliased_weights: ClassVar[dict[str, str]] = {}  # always shared (e.g. an LM decoder bias and its head bias)
    ignore_unexpected: ClassVar[tuple[str, ...]] = (r"(^|\.)position_ids$",)

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.config = config
        self.loading_report: LoadingReport | None = None

    # ---- construction helpers ----------------------------------------------------------------------------------
    def init_weights(self, module: nn.Module) -> None:
        """Initialise one module's own parameters (override per family)."""
        from embrace.models.layers import init_weights_normal

        init_weights_normal(module, self.config.initializer_range)

    def post_init(self) -> None:
        """Initialise all weights (skipped on the meta device) and tie shared weights."""
        if not any(p.is_meta for p in self.parameters()):
            self.apply(self.init_weights)
        self.tie_weights()

    def tie_weights(self) -> None:
        for key, source_key in self._shared_weights().items():
            owner, name = self._owner(key)
            setattr(owner, name, self.get_parameter(source_key))

    def _shared_weights(self) -> dict[str, str]:
        """Keys that are views of another key: not saved, not expected in a checkpoint."""
        tied = self.tied_weights if self.config.tie_word_embeddings else {}
        return {**tied, **self.aliased_weights}

    def _owner(self, key: str) -> tuple[nn.Module, str]:
        module_path, _, name = key.rpartition(".")
        return (self.get_submodule(module_path) if module_path else self), name

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(p for p in self.parameters() if p.is_floating_point()).dtype

    def num_parameters(self, only_trainable: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not only_trainable)

    def get_input_embeddings(self) -> nn.Module:
        base = getattr(self, self.base_model_prefix, self) if self.base_model_prefix else self
        return base.embeddings.word_embeddings  # type: ignore[union-attr,return-value]

    # ---- loading -------------------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls: type[_ModelT], config: PretrainedConfig, *, dtype: str | torch.dtype | None = None) -> _ModelT:
        """A freshly initialised model (random weights) for ``config``."""
        torch_dtype = to_torch_dtype(None if dtype == "auto" else dtype)
        model = cls(config)  # __init__ ends with post_init(): weights are initialised
        return model.to(torch_dtype) if torch_dtype else model

    @classmethod
    def from_pretrained(
        cls: type[_ModelT],
        path_or_repo_id: str | os.PathLike[str],
        *,
        config: PretrainedConfig | None = None,
        dtype: str | torch.dtype | None = "auto",
        torch_dtype: str | torch.dtype | None = None,
        device: str | torch.device | None = None,
        device_map: str | torch.device | None = None,
        **kwargs: Any,
    ) -> _ModelT:
        """Load config and weights from a folder or a hub repo id (HF cache, or the hub when online).

        ``dtype``: ``"auto"`` (default, the checkpoint's dtype as recorded in config.json) or a torch dtype / name.
        ``device``: where the weights go (``device_map`` is accepted as an alias for a single device).
        Extra keyword arguments override config fields (``num_labels=3``, ``id2label=...``).
        """
        hub_kwargs = pop_hub_kwargs(kwargs)
        kwargs.pop("low_cpu_mem_usage", None)  # always on
        kwargs.pop("trust_remote_code", None)
        kwargs.pop("use_safetensors", None)
        kwargs.pop("attn_implementation", None)  # attention always runs on scaled_dot_product_attention
        from embrace.hub.resolve import cached_file

        source = os.fspath(path_or_repo_id)
        if config is None:
            config = cls.config_class.from_pretrained(source, **hub_kwargs, **kwargs)
        elif kwargs:
            config = type(config).from_dict({**config.to_dict(), **kwargs})

        def resolve(name: str) -> Path | None:
            return cached_file(source, name, missing_ok=True, **hub_kwargs)

        files = find_weight_files(resolve, source)
        requested = torch_dtype if torch_dtype is not None else dtype
        target_dtype = _target_dtype(requested, config, files)
        target_device = torch.device(device_map if device is None and isinstance(device_map, str | torch.device)
                                     and device_map != "auto" else device or "cpu")

        with torch.device("meta"), skip_weight_init():
            model = cls(config)
        report = model.load_checkpoint(files, dtype=target_dtype, device=target_device)
        model._materialize_missing(target_dtype, target_device)
        model.tie_weights()
        if target_dtype is not None:
            config.dtype = dtype_name(target_dtype)
        model.loading_report = report
        model.eval()
        return model

    def load_checkpoint(
        self, files: list[Path], *, dtype: torch.dtype | None = None, device: torch.device | None = None
    ) -> LoadingReport:
        """Assign every checkpoint tensor to its parameter/buffer in place; raise on shape or key mismatches."""
        import re

        expected = dict(self.state_dict(keep_vars=True))
        tied_targets = set(self._shared_weights())
        prefix = self.base_model_prefix
        has_prefix = bool(prefix) and any(k.startswith(prefix + ".") for k in expected)
        loaded: set[str] = set()
        report = LoadingReport()
        for ckpt_key, load, _shape in iter_checkpoint(files):
            key, rule = rename_to_model(ckpt_key, self.rename_rules)
            key = _adapt_prefix(key, prefix, has_prefix, expected)
            if key not in expected:
                if not any(re.search(p, key) for p in self.ignore_unexpected):
                    report.unexpected_keys.append(ckpt_key)
                continue
            tensor = load()
            if rule is not None and rule.to_model is not None:
                tensor = rule.to_model(tensor)
            target = expected[key]
            if tuple(tensor.shape) != tuple(target.shape):
                report.mismatched_keys.append((key, tuple(tensor.shape), tuple(target.shape)))
                continue
            if tensor.is_floating_point() and dtype is not None:
                tensor = tensor.to(dtype)
            elif tensor.is_floating_point() and target.dtype != tensor.dtype and not target.is_meta:
                tensor = tensor.to(target.dtype)
            if device is not None and tensor.device != device:
                tensor = tensor.to(device)
            self._assign(key, tensor)
            loaded.add(key)
        report.missing_keys = [k for k in expected if k not in loaded and k not in tied_targets]
        self._check_report(report, files)
        return report

    def _assign(self, key: str, tensor: torch.Tensor) -> None:
        """Put ``tensor`` at ``key``. A materialised parameter/buffer of the same shape, dtype and device is
        overwritten in place, so optimizers (and tied aliases) holding it keep working; a meta placeholder (the
        usual ``from_pretrained`` path) is replaced without a copy."""
        owner, name = self._owner(key)
        current = owner._parameters[name] if name in owner._parameters else owner._buffers.get(name)
        if (current is not None and not current.is_meta and current.shape == tensor.shape
                and current.dtype == tensor.dtype and current.device == tensor.device):
            with torch.no_grad():
                current.copy_(tensor)
        elif name in owner._parameters:
            owner._parameters[name] = nn.Parameter(
                tensor, requires_grad=current.requires_grad if current is not None else True)
        else:
            owner._buffers[name] = tensor

    def _check_report(self, report: LoadingReport, files: list[Path]) -> None:
        where = files[0].parent
        if report.mismatched_keys:
            lines = "; ".join(f"{k}: checkpoint {a} vs model {b}" for k, a, b in report.mismatched_keys[:10])
            raise CheckpointError(
                f"checkpoint in {where} does not match {type(self).__name__} built from its config: {lines}. "
                "Check config.json belongs to these weights."
            )
        prefix = self.base_model_prefix
        if prefix and isinstance(getattr(self, prefix, None), nn.Module):  # a head model: the body is under prefix
            in_base = [k for k in report.missing_keys if k.startswith(prefix + ".")]
        else:  # the body itself: every missing key is part of it
            in_base = list(report.missing_keys)
        if in_base:
            raise CheckpointError(
                f"checkpoint in {where} lacks {len(in_base)} weights of {type(self).__name__}'s body, e.g. "
                f"{in_base[:5]}. The file is incomplete or belongs to another architecture."
            )
        if report.missing_keys:
            logger.warning(
                "%s: newly initialised weights not in the checkpoint (train this head before use): %s",
                type(self).__name__, report.missing_keys,
            )
        if report.unexpected_keys:
            logger.info("%s: unused checkpoint weights: %s", type(self).__name__, report.unexpected_keys)

    def _materialize_missing(self, dtype: torch.dtype | None, device: torch.device) -> None:
        """Give real storage to anything still on the meta device (a fresh head) and initialise it."""
        for module in self.modules():
            fresh = False
            for name, param in list(module._parameters.items()):
                if param is not None and param.is_meta:
                    data = torch.empty(param.shape, dtype=dtype or param.dtype, device=device)
                    module._parameters[name] = nn.Parameter(data, requires_grad=param.requires_grad)
                    fresh = True
            for name, buf in list(module._buffers.items()):
                if buf is not None and buf.is_meta:
                    module._buffers[name] = torch.zeros(buf.shape, dtype=buf.dtype, device=device)
            if fresh:
                with torch.no_grad():
                    self.init_weights(module)

    # ---- saving --------------------------------------------------------------------------------------------------
    def checkpoint_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict under checkpoint names: tied copies dropped, reverse rename rules applied."""
        state = self.state_dict()
        for key in self._shared_weights():
            state.pop(key, None)
        out: dict[str, torch.Tensor] = {}
        for key, tensor in state.items():
            name, rule = rename_to_checkpoint(key, self.rename_rules)
            if rule is not None and rule.to_checkpoint is not None:
                tensor = rule.to_checkpoint(tensor)
            out[name] = tensor.detach().contiguous()
        return out

    def save_pretrained(
        self,
        save_directory: str | os.PathLike[str],
        *,
        safe_serialization: bool = True,
        max_shard_size: int | str = "5GB",
        state_dict: dict[str, torch.Tensor] | None = None,
        **_: Any,
    ) -> None:
        """Write ``config.json`` and the weights (sharded above ``max_shard_size``), each file atomically."""
        folder = Path(save_directory)
        if folder.is_file():
            raise EmbraceFileNotFoundError(f"save_pretrained needs a folder, but {folder} is a file")
        folder.mkdir(parents=True, exist_ok=True)
        state = state_dict if state_dict is not None else self.checkpoint_state_dict()
        # storage shared between two keys (e.g. an untied head pointing at the same tensor) cannot go into
        # safetensors as is: give each its own copy
        seen: set[int] = set()
        for key, tensor in state.items():
            ptr = tensor.untyped_storage().data_ptr()
            if ptr in seen and tensor.numel():
                state[key] = tensor.clone()
            seen.add(ptr)
        self.config.architectures = [type(self).__name__]
        if self.config.dtype is None:
            self.config.dtype = dtype_name(self.dtype)
        shards = _shard(state, parse_size(max_shard_size))
        weights_name, index_name = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME) if safe_serialization else (
            WEIGHTS_NAME, WEIGHTS_INDEX_NAME)
        written: set[str] = set()
        for i, shard in enumerate(shards):
            name = weights_name if len(shards) == 1 else _shard_name(weights_name, i + 1, len(shards))
            with atomic_writer(folder / name, "wb") as handle:
                if safe_serialization:
                    from safetensors.torch import save

                    handle.write(save(shard, metadata={"format": "pt"}))
                else:
                    torch.save(shard, handle)
            written.add(name)
        if len(shards) > 1:
            index = {
                "metadata": {"total_size": sum(t.numel() * t.element_size() for t in state.values())},
                "weight_map": {k: _shard_name(weights_name, i + 1, len(shards)) for i, s in enumerate(shards) for k in s},
            }
            atomic_write_text(folder / index_name, json.dumps(index, indent=2, sort_keys=True) + "\n")
            written.add(index_name)
        _remove_stale_weights(folder, written, weights_name)
        self.config.save_pretrained(folder)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> Any:
        """Save to a temp folder and upload it as one commit (``embrace.hub.push_folder_to_hub`` options)."""
        from embrace.hub import push_saved_to_hub

        return push_saved_to_hub(self.save_pretrained, repo_id, **kwargs)


_INIT_FUNCTIONS = ("normal_", "uniform_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
                   "xavier_normal_", "zeros_", "ones_", "constant_", "orthogonal_")


@contextlib.contextmanager
def skip_weight_init() -> Iterator[None]:
    """Make ``torch.nn.init`` a no-op while a model is built on the meta device: its weights are about to be
    replaced, and random init on meta tensors goes through torch's reference ops, which import torch._dynamo
    (~1.5 s and ~70 MB on first use)."""
    saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS}
    for name in _INIT_FUNCTIONS:
        setattr(nn.init, name, _keep_tensor)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def _keep_tensor(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return tensor


def _adapt_prefix(key: str, prefix: str, model_has_prefix: bool, expected: dict[str, Any]) -> str:
    """Load a base-model checkpoint into a model with a head (add ``prefix.``) and vice versa (strip it)."""
    if not prefix or key in expected:
        return key
    if model_has_prefix and not key.startswith(prefix + "."):
        candidate = f"{prefix}.{key}"
        return candidate if candidate in expected else key
    if not model_has_prefix and key.startswith(prefix + "."):
        return key[len(prefix) + 1:]
    return key


def _target_dtype(requested: str | torch.dtype | None, config: PretrainedConfig, files: list[Path]) -> torch.dtype | None:
    if requested != "auto":
        return to_torch_dtype(requested)
    if config.dtype:
        return to_torch_dtype(config.dtype)
    for _key, load, _shape in iter_checkpoint(files[:1]):
        tensor = load()
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def _shard(state: dict[str, torch.Tensor], max_bytes: int) -> list[dict[str, torch.Tensor]]:
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    return shards


def _shard_name(weights_name: str, index: int, total: int) -> str:
    stem, ext = weights_name.rsplit(".", 1)
    return f"{stem}-{index:05d}-of-{total:05d}.{ext}"


def _remove_stale_weights(folder: Path, written: set[str], weights_name: str) -> None:
    """Delete weight files of an earlier save with another sharding, so the folder holds one checkpoint."""
    stem = weights_name.rsplit(".", 1)[0]
    for path in folder.iterdir():
        name = path.name
        if name in written:
            continue
        if name in WEIGHT_FILE_CANDIDATES or (name.startswith(stem + "-") and "-of-" in name):
            path.unlink()
