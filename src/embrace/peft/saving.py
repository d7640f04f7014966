"""Adapter weights in the PEFT file format: ``adapter_model.safetensors`` (or the older ``adapter_model.bin``).

Saved keys are the live state-dict keys without the adapter name: ``base_model.model.<path>.lora_A.weight``
(live: ``...lora_A.default.weight``), ``...lora_embedding_A`` (live: ``...lora_embedding_A.default``; IA3: ``...ia3_l``), and for a
module in ``modules_to_save`` the module's own keys (``base_model.model.classifier.weight``, live:
``...classifier.modules_to_save.default.weight``). Loading maps them back for any adapter name, checks every
shape, and copies values into the existing parameters in place (an optimizer holding them keeps working).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from embrace.io import atomic_writer
from embrace.peft.errors import AdapterWeightsError
from embrace.peft.layers import AdapterLayer, ModulesToSaveWrapper, param

if TYPE_CHECKING:
    from embrace.peft.model import PeftModel

SAFE_ADAPTER_NAME = "adapter_model.safetensors"
ADAPTER_BIN_NAME = "adapter_model.bin"
_ROOT = "base_model.model."
_LORA_MODULE_KEY = re.compile(r"\.(lora_A|lora_B)\.(weight|bias)$")
_LORA_PARAM_KEY = re.compile(r"\.(lora_embedding_A|lora_embedding_B|ia3_l)$")


def _wrappers(model: PeftModel) -> tuple[dict[str, AdapterLayer], dict[str, ModulesToSaveWrapper]]:
    lora, saved = {}, {}
    for name, module in model.named_modules():
        if isinstance(module, AdapterLayer):
            lora[name] = module
        elif isinstance(module, ModulesToSaveWrapper):
            saved[name] = module
    return lora, saved


def adapter_state_dict(model: PeftModel, adapter_name: str = "default",
                       save_embedding_layers: bool | str = "auto") -> dict[str, torch.Tensor]:
    """The tensors of one adapter under their file keys (what ``save_pretrained`` writes)."""
    bias_mode = getattr(model.base_model.check_adapter(adapter_name), "bias", "none")
    lora, saved = _wrappers(model)
    out: dict[str, torch.Tensor] = {}
    for path, layer in lora.items():
        for attr in layer.adapter_layer_names:
            container = getattr(layer, attr)
            if adapter_name not in container:
                continue
            item = container[adapter_name]
            if isinstance(item, nn.Module):
                for pname, tensor in item.named_parameters():
                    out[f"{path}.{attr}.{pname}"] = tensor
            else:
                out[f"{path}.{attr}"] = cast(torch.Tensor, item)
        if bias_mode == "lora_only" and getattr(layer.base_layer, "bias", None) is not None:
            out[f"{path}.base_layer.bias"] = param(layer.base_layer, "bias")
        if save_embedding_layers is True or (save_embedding_layers == "auto" and _resized(model, layer)):
            out[f"{path}.base_layer.weight"] = param(layer.base_layer)
    if bias_mode == "all":
        for name, tensor in model.named_parameters():
            if name.endswith(".bias") and not any(name.startswith(p + ".") for p in saved):
                out.setdefault(name, tensor)
    for path, wrapper in saved.items():
        if adapter_name in wrapper.modules_to_save:
            for key, tensor in wrapper.modules_to_save[adapter_name].state_dict().items():
                out[f"{path}.{key}"] = tensor
    return {key: tensor.detach() for key, tensor in out.items()}


def _resized(model: PeftModel, layer: AdapterLayer) -> bool:
    """An embedding whose row count differs from ``config.vocab_size`` was resized: save it with the adapter."""
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    base = layer.base_layer
    return isinstance(base, nn.Embedding) and vocab is not None and base.num_embeddings != vocab


def to_model_key(key: str, adapter_name: str, saved_paths: set[str]) -> str:
    """File key -> live state-dict key for ``adapter_name``."""
    match = _LORA_MODULE_KEY.search(key)
    if match:
        return f"{key[:match.start()]}.{match.group(1)}.{adapter_name}.{match.group(2)}"
    if _LORA_PARAM_KEY.search(key):
        return f"{key}.{adapter_name}"
    module_path, _, leaf = key.rpartition(".")
    probe = module_path
    while probe:  # the innermost modules_to_save wrapper that holds this key
        if probe in saved_paths:
            return f"{probe}.modules_to_save.{adapter_name}.{key[len(probe) + 1:]}"
        probe = probe.rpartition(".")[0]
    return key


def load_adapter_state_dict(model: PeftModel, state: dict[str, torch.Tensor], adapter_name: str, source: str) -> None:
    """Copy ``state`` (file keys) into ``adapter_name``'s parameters; every tensor must fit and be complete."""
    lora, saved = _wrappers(model)
    live = model.state_dict(keep_vars=True)
    expected = set(adapter_state_dict(model, adapter_name, save_embedding_layers=False))
    unexpected, mismatched, assignments = [], [], []
    for file_key, tensor in state.items():
        key = file_key if file_key.startswith(_ROOT) else _ROOT + file_key
        model_key = to_model_key(key, adapter_name, set(saved))
        target = live.get(model_key)
        if target is None:
            unexpected.append(file_key)
            continue
        if tuple(target.shape) != tuple(tensor.shape):
            mismatched.append(f"{file_key}: adapter {tuple(tensor.shape)} vs model {tuple(target.shape)}")
            continue
        assignments.append((target, tensor))
        expected.discard(key)
    if mismatched:
        raise AdapterWeightsError(
            f"adapter {source} does not fit this base model ({len(mismatched)} shape mismatches, e.g. "
            f"{'; '.join(mismatched[:3])}). It was trained on a different model; load it onto the base model "
            "named in its adapter_config.json (base_model_name_or_path).")
    if unexpected:
        raise AdapterWeightsError(
            f"adapter {source} has {len(unexpected)} weights with no place in this model, e.g. {unexpected[:3]}. "
            "It was trained on a model with other module names; load it onto the base model it was made for.")
    missing = sorted(expected)
    if missing:
        raise AdapterWeightsError(f"adapter {source} lacks {len(missing)} weights its config implies, e.g. "
                                  f"{missing[:3]}; the file is incomplete or its adapter_config.json does not match it")
    with torch.no_grad():
        for target, tensor in assignments:
            target.copy_(tensor.to(device=target.device))


def save_adapter_file(state: dict[str, torch.Tensor], folder: Path, safe_serialization: bool = True) -> Path:
    """Write the tensors atomically (safetensors with ``{"format": "pt"}`` metadata, or a torch ``.bin``)."""
    unique: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, tensor in state.items():
        tensor = tensor.detach().contiguous()
        ptr = tensor.untyped_storage().data_ptr()
        unique[key] = tensor.clone() if ptr in seen and tensor.numel() else tensor
        seen.add(ptr)
    path = folder / (SAFE_ADAPTER_NAME if safe_serialization else ADAPTER_BIN_NAME)
    with atomic_writer(path, "wb") as handle:
        if safe_serialization:
            from safetensors.torch import save

            handle.write(save({k: v.cpu() for k, v in unique.items()}, metadata={"format": "pt"}))
        else:
            torch.save({k: v.cpu() for k, v in unique.items()}, handle)
    return path


def read_adapter_file(path_or_repo_id: str | os.PathLike[str], subfolder: str | None = None,
                      **hub_kwargs: Any) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors of ``adapter_model.safetensors`` (or ``.bin``) from a folder or hub repo, and the file's path."""
    from embrace.hub.resolve import cached_file
    from embrace.peft.errors import AdapterError

    prefix = f"{subfolder}/" if subfolder else ""
    for name in (SAFE_ADAPTER_NAME, ADAPTER_BIN_NAME):
        path = cached_file(path_or_repo_id, prefix + name, missing_ok=True, **hub_kwargs)
        if path is None:
            continue
        try:
            if name.endswith(".safetensors"):
                from safetensors.torch import load_file

                return load_file(str(path)), str(path)
            return torch.load(path, map_location="cpu", weights_only=True), str(path)
        except Exception as exc:  # truncated or corrupt file: name it
            raise AdapterWeightsError(f"cannot read adapter weights {path}: {exc}") from exc
    raise AdapterError(f"no adapter weights in {path_or_repo_id}{'/' + subfolder if subfolder else ''}: expected "
                       f"{SAFE_ADAPTER_NAME} or {ADAPTER_BIN_NAME} (saved by PeftModel.save_pretrained)")
