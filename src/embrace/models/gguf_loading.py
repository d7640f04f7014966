"""``from_pretrained(folder, gguf_file=...)`` for causal LMs: build the model from a GGUF file's converted
config and (dequantised) state dict, via :mod:`embrace.models.gguf`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import torch

from embrace.errors import CheckpointError, UnknownModelTypeError

_ModelT = TypeVar("_ModelT")


def resolve_gguf_path(path_or_repo_id: str | os.PathLike[str], gguf_file: str, **hub_kwargs: Any) -> Path:
    """The .gguf file: ``gguf_file`` inside the folder/repo, or ``gguf_file`` itself when it is a path."""
    direct = Path(gguf_file)
    if direct.is_absolute() and direct.is_file():
        return direct
    from embrace.hub.resolve import cached_file

    path = cached_file(os.fspath(path_or_repo_id), gguf_file, **hub_kwargs)
    assert path is not None
    return path


def causal_lm_from_gguf(cls: type[_ModelT], path_or_repo_id: str | os.PathLike[str], gguf_file: str,
                        **kwargs: Any) -> _ModelT:
    """Load ``cls`` (a ``*ForCausalLM``) with weights dequantised from ``gguf_file`` (float32 unless ``dtype``)."""
    from embrace.generation.config import GenerationConfig
    from embrace.models.auto import config_class_for
    from embrace.models.gguf import load_gguf_checkpoint
    from embrace.models.modeling import skip_weight_init, to_torch_dtype

    hub = {k: kwargs.pop(k) for k in ("revision", "cache_dir", "token", "local_files_only") if k in kwargs}
    dtype = kwargs.pop("dtype", None) or kwargs.pop("torch_dtype", None)
    device = kwargs.pop("device", None) or "cpu"
    for ignored in ("low_cpu_mem_usage", "trust_remote_code", "attn_implementation", "device_map"):
        kwargs.pop(ignored, None)
    torch_dtype = to_torch_dtype(None if dtype == "auto" else dtype)
    path = resolve_gguf_path(path_or_repo_id, gguf_file, **hub)
    ckpt = load_gguf_checkpoint(path, dtype=torch_dtype, load_tokenizer=False)
    config_cls = config_class_for(ckpt.config.get("model_type"), str(path))
    config = config_cls.from_dict(ckpt.config, **kwargs)
    model_cls: Any = cls
    if getattr(model_cls, "config_class", None) is not config_cls and not isinstance(config, model_cls.config_class):
        raise UnknownModelTypeError(f"{path} holds a {config.model_type} model; load it with "
                                    f"AutoModelForCausalLM or that family's class, not {model_cls.__name__}")
    with torch.device("meta"), skip_weight_init():
        model = model_cls(config)
    result = model.load_state_dict(ckpt.state_dict, strict=False, assign=True)
    tied = set(model._shared_weights())
    missing = [k for k in result.missing_keys if k not in tied]
    if missing or result.unexpected_keys:
        raise CheckpointError(f"{path} does not match {model_cls.__name__}: missing {missing[:5]}, "
                              f"unexpected {result.unexpected_keys[:5]}")
    model.tie_weights()
    model.to(device)
    model.generation_config = GenerationConfig.from_model_config(config)
    model.eval()
    loaded: _ModelT = model
    return loaded
