"""``LoraModel`` / ``IA3Model``: find the target modules of a model, wrap them in place, manage named adapters.

Matching follows the PEFT library: a list of names matches a module whose full name equals an entry or ends with
``.<entry>``; a string is a regex that must match the full module name; ``"all-linear"`` takes every linear layer
except the output head (and, for sequence classification, the classifier). ``exclude_modules`` and
``modules_to_save`` are never wrapped with LoRA.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, cast

import torch
from torch import nn

from embrace.peft.config import DEFAULT_IA3_TARGETS, DEFAULT_LORA_TARGETS, IA3Config, LoraConfig, TaskType
from embrace.peft.errors import (
    AdapterConfigError,
    TargetModulesNotFoundError,
    UnknownAdapterError,
    UnsupportedTargetError,
)
from embrace.peft.ia3 import IA3Linear, make_ia3_layer
from embrace.peft.layers import AdapterLayer, ModulesToSaveWrapper, is_linear_like
from embrace.peft.lora import LoraEmbedding, LoraLinear, make_lora_layer

AdapterConfig = LoraConfig | IA3Config

_SEQ_CLS_HEADS = ("classifier", "score")


def _matches_names(key: str, names: set[str] | list[str]) -> bool:
    return key in names or any(key.endswith(f".{name}") for name in names)


def is_target(config: AdapterConfig, key: str) -> bool:
    """Whether LoRA wraps the module named ``key`` under ``config`` (exclusions applied first)."""
    excluded = config.exclude_modules
    if excluded:
        if isinstance(excluded, str) and re.fullmatch(excluded, key):
            return False
        if not isinstance(excluded, str) and _matches_names(key, excluded):
            return False
    if config.modules_to_save and any(re.match(rf"(^|.*\.){re.escape(m)}($|\..*)", key) for m in config.modules_to_save):
        return False
    targets = config.target_modules
    if targets is None:
        return False
    if isinstance(targets, str):
        return re.fullmatch(targets, key) is not None
    if not _matches_names(key, targets):
        return False
    if config.layers_pattern:
        patterns = [config.layers_pattern] if isinstance(config.layers_pattern, str) else config.layers_pattern
        return any(re.match(rf"(?:^|.*?\.){p}\.\d+\.", key) for p in patterns)
    return True


def _all_linear_names(model: nn.Module, config: AdapterConfig) -> set[str]:
    names = {name for name, module in model.named_modules() if is_linear_like(module)}
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else None
    if isinstance(head, nn.Module):
        names -= {name for name, module in model.named_modules() if module is head}
    elif config.task_type == TaskType.SEQ_CLS:
        for attr in _SEQ_CLS_HEADS:
            module = getattr(model, attr, None)
            if isinstance(module, nn.Module):
                names -= {name for name, m in model.named_modules() if m is module}
                break
    return names


def _resolve_targets(model: nn.Module, config: AdapterConfig) -> None:
    if isinstance(config.target_modules, str) and config.target_modules.lower() == "all-linear":
        config.target_modules = _all_linear_names(model, config)
        return
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if isinstance(config, IA3Config):
        defaults = DEFAULT_IA3_TARGETS.get(model_type or "")
        if config.target_modules is None and defaults:
            config.target_modules = set(defaults[0])
        if config.feedforward_modules is None and defaults:
            config.feedforward_modules = set(defaults[1])
    elif config.target_modules is None and model_type in DEFAULT_LORA_TARGETS:
        config.target_modules = set(DEFAULT_LORA_TARGETS[model_type])
    if config.target_modules is None:
        raise AdapterConfigError(f"{type(config).__name__} has no target_modules and there is no default for "
                                 f"model_type {model_type!r}; pass target_modules, e.g. ['q_proj', 'v_proj'] or "
                                 "'all-linear'")


def make_layer(target: nn.Module, adapter_name: str, config: AdapterConfig, key: str) -> AdapterLayer | None:
    if isinstance(config, IA3Config):
        return make_ia3_layer(target, adapter_name, config, key)
    return make_lora_layer(target, adapter_name, config)


class LoraModel(nn.Module):
    """Holds the wrapped model (``self.model``) and the adapter configs (``peft_config``, name -> config)."""

    prefix = "lora_"

    def __init__(self, model: nn.Module, config: AdapterConfig, adapter_name: str = "default") -> None:
        super().__init__()
        self.model = model
        self.peft_config: dict[str, AdapterConfig] = {}
        self.active_adapter = adapter_name
        self.inject_adapter(adapter_name, config)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "model":
                raise
            return getattr(self.model, name)

    # ---- layers ------------------------------------------------------------------------------------------------
    def lora_layers(self) -> Iterator[tuple[str, AdapterLayer]]:
        for name, module in self.model.named_modules():
            if isinstance(module, AdapterLayer):
                yield name, module

    def saved_modules(self) -> Iterator[tuple[str, ModulesToSaveWrapper]]:
        for name, module in self.model.named_modules():
            if isinstance(module, ModulesToSaveWrapper):
                yield name, module

    def _adapter_layers(self) -> Iterator[AdapterLayer | ModulesToSaveWrapper]:
        for module in self.model.modules():
            if isinstance(module, AdapterLayer | ModulesToSaveWrapper):
                yield module

    # ---- injection ---------------------------------------------------------------------------------------------
    def inject_adapter(self, adapter_name: str, config: AdapterConfig) -> None:
        """Wrap every module ``config`` targets (adding ``adapter_name`` to already wrapped ones), wrap the
        ``modules_to_save``, then freeze everything but the adapters. Checks run before anything is changed."""
        if adapter_name in self.peft_config:
            raise AdapterConfigError(f"an adapter named {adapter_name!r} already exists; pick another name or "
                                     "delete_adapter() it first")
        if "." in adapter_name or not adapter_name:
            raise AdapterConfigError(f"adapter name {adapter_name!r} must be a non-empty name without dots")
        existing = next((c for c in self.peft_config.values()), None)
        if existing is not None and type(existing) is not type(config):
            raise AdapterConfigError(f"this model holds {type(existing).__name__} adapters; a {type(config).__name__} "
                                     "cannot be added next to them")
        _resolve_targets(self.model, config)
        targets: list[tuple[str, nn.Module]] = []
        inside: list[str] = []  # prefixes of existing adapter wrappers: their internals are never targets
        for key, module in self.model.named_modules():
            if not key or any(key.startswith(p) for p in inside):
                continue
            if isinstance(module, AdapterLayer | ModulesToSaveWrapper):
                inside.append(key + ".")
            if is_target(config, key):
                embedding_ok = isinstance(module, nn.Embedding) and isinstance(config, LoraConfig)
                if not isinstance(module, AdapterLayer) and not embedding_ok and not is_linear_like(module):
                    raise UnsupportedTargetError(
                        f"target module {key!r} is a {type(module).__name__}; {config.peft_type.value} wraps only "
                        f"Linear{', Embedding' if isinstance(config, LoraConfig) else ''} and GPT-2 Conv1D layers. "
                        "Narrow target_modules (e.g. name the projections inside it).")
                targets.append((key, module))
        if not targets:
            raise TargetModulesNotFoundError(
                f"target_modules {_describe(config.target_modules)} matched no module of "
                f"{type(self.model).__name__}. Module names look like: {_sample_names(self.model)}. Use names or "
                "name suffixes from that list, a regex over full names, or 'all-linear'.")
        saved_keys = self._modules_to_save_keys(config.modules_to_save) if config.modules_to_save else []
        self.peft_config[adapter_name] = config
        for key, module in targets:
            if isinstance(module, AdapterLayer):
                cast(LoraLinear | LoraEmbedding | IA3Linear, module).add_adapter(adapter_name, config)  # type: ignore[arg-type]
            else:
                wrapped = make_layer(module, adapter_name, config, key)
                assert wrapped is not None
                self._replace(key, wrapped)
        self._wrap_modules_to_save(adapter_name, saved_keys)
        self._freeze_base()
        self.set_adapter(self.active_adapter if self.active_adapter in self.peft_config else adapter_name)

    def _replace(self, key: str, module: nn.Module) -> None:
        parent_name, _, child = key.rpartition(".")
        parent = self.model.get_submodule(parent_name) if parent_name else self.model
        setattr(parent, child, module)

    def _modules_to_save_keys(self, names: list[str]) -> list[str]:
        """Names of the modules ``modules_to_save`` picks (a name suffix match, as PEFT); raises when none."""
        keys = []
        for key, _ in self.model.named_modules(remove_duplicate=False):
            if not key or not any(key.endswith(name) for name in names):
                continue
            parent = self.model.get_submodule(key.rpartition(".")[0]) if "." in key else self.model
            if not isinstance(parent, ModulesToSaveWrapper | AdapterLayer):
                keys.append(key)
        if not keys:
            raise TargetModulesNotFoundError(f"modules_to_save {names} matched no module of "
                                             f"{type(self.model).__name__}: {_sample_names(self.model)}")
        return keys

    def _wrap_modules_to_save(self, adapter_name: str, keys: list[str]) -> None:
        for key in keys:
            module = self.model.get_submodule(key)
            if isinstance(module, ModulesToSaveWrapper):
                module.add_adapter(adapter_name)
            else:
                self._replace(key, ModulesToSaveWrapper(module, adapter_name))

    def _freeze_base(self) -> None:
        adapter_params: set[int] = set()
        for module in self._adapter_layers():
            if isinstance(module, AdapterLayer):
                for name in module.adapter_names():
                    adapter_params.update(id(p) for p in module._adapter_tensors(name))
            else:
                adapter_params.update(id(p) for p in module.modules_to_save.parameters())
        for param in self.model.parameters():
            if id(param) not in adapter_params:
                param.requires_grad_(False)

    def _apply_bias_trainability(self, config: AdapterConfig) -> None:
        bias_mode = getattr(config, "bias", "none")
        if bias_mode == "all":
            for name, param in self.model.named_parameters():
                if name.endswith(".bias") and ".modules_to_save." not in name and ".original_module." not in name:
                    param.requires_grad_(True)
        elif bias_mode == "lora_only":
            for _, layer in self.lora_layers():
                bias = getattr(layer.base_layer, "bias", None)
                if isinstance(bias, nn.Parameter):
                    bias.requires_grad_(True)

    # ---- adapters ----------------------------------------------------------------------------------------------
    def check_adapter(self, adapter_name: str) -> AdapterConfig:
        if adapter_name not in self.peft_config:
            raise UnknownAdapterError(f"no adapter named {adapter_name!r}; this model has {sorted(self.peft_config)}")
        return self.peft_config[adapter_name]

    def set_adapter(self, adapter_name: str) -> None:
        """Make ``adapter_name`` the active adapter; its weights train unless its config is in inference mode."""
        config = self.check_adapter(adapter_name)
        self.active_adapter = adapter_name
        for module in self._adapter_layers():
            module.set_active([adapter_name], trainable=not config.inference_mode)
        if not config.inference_mode:
            self._apply_bias_trainability(config)

    def delete_adapter(self, adapter_name: str) -> None:
        self.check_adapter(adapter_name)
        for module in self._adapter_layers():
            module.delete_adapter(adapter_name)
        del self.peft_config[adapter_name]
        if self.active_adapter == adapter_name:
            remaining = sorted(self.peft_config)
            self.active_adapter = remaining[0] if remaining else ""
            if remaining:
                self.set_adapter(remaining[0])

    def enable_adapter_layers(self, enabled: bool = True) -> None:
        for module in self._adapter_layers():
            module.disabled = not enabled

    def disable_adapter_layers(self) -> None:
        self.enable_adapter_layers(False)

    # ---- merging -----------------------------------------------------------------------------------------------
    def merge_adapter(self, adapter_names: list[str] | None = None, safe_merge: bool = False) -> None:
        """Add the (active) adapter's deltas into the base weights; ``unmerge_adapter()`` undoes it."""
        names = adapter_names or [self.active_adapter]
        for name in names:
            self.check_adapter(name)
        for _, layer in self.lora_layers():
            layer.merge(names, safe_merge=safe_merge)

    def unmerge_adapter(self) -> None:
        for _, layer in self.lora_layers():
            layer.unmerge()

    @torch.no_grad()
    def merge_and_unload(self, progressbar: bool = False, safe_merge: bool = False,
                         adapter_names: list[str] | None = None) -> nn.Module:
        """Merge the adapter into the base weights and return the plain base model (no LoRA modules left)."""
        return self._unload(merge=True, safe_merge=safe_merge, adapter_names=adapter_names)

    def unload(self) -> nn.Module:
        """Remove every adapter without merging: the base model as it was."""
        return self._unload(merge=False)

    def _unload(self, merge: bool, safe_merge: bool = False, adapter_names: list[str] | None = None) -> nn.Module:
        for key, layer in list(self.lora_layers()):
            if merge:
                layer.merge(adapter_names or [self.active_adapter], safe_merge=safe_merge)
            elif layer.merged:
                layer.unmerge()
            self._replace(key, layer.base_layer)
        for key, wrapper in list(self.saved_modules()):
            keep = wrapper.modules_to_save[self.active_adapter] if merge and self.active_adapter in \
                wrapper.modules_to_save else wrapper.original_module
            self._replace(key, keep)
        self.peft_config.clear()
        return self.model


def _describe(targets: Any) -> str:
    return repr(sorted(targets)) if isinstance(targets, set | list) else repr(targets)


def _sample_names(model: nn.Module, limit: int = 12) -> str:
    leaves = [name for name, module in model.named_modules() if name and not list(module.children())]
    seen: list[str] = []
    for name in leaves:
        generic = re.sub(r"\.\d+\.", ".N.", name)
        if generic not in seen:
            seen.append(generic)
    return ", ".join(seen[:limit]) + (" ..." if len(seen) > limit else "")


class IA3Model(LoraModel):
    """The same machinery for (IA)^3 adapters (``ia3_l`` vectors)."""

    prefix = "ia3_"
