"""``PeftModel`` and ``get_peft_model``: a base model with LoRA adapters, saved and loaded in the PEFT format.

The wrapper mirrors the PEFT library's structure (``peft_model.base_model`` is the :class:`LoraModel`,
``peft_model.base_model.model`` the original model), so parameter names (``base_model.model.<path>...``), files
and the API match. Attributes the wrapper does not have (``config``, ``generation_config``, ``device``...) come
from the base model; ``forward`` and ``generate`` pass their arguments through unchanged.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from torch import nn

from embrace.errors import EmbraceFileNotFoundError
from embrace.peft.config import IA3Config, LoraConfig, PeftConfig, TaskType
from embrace.peft.errors import AdapterConfigError
from embrace.peft.saving import adapter_state_dict, load_adapter_state_dict, read_adapter_file, save_adapter_file
from embrace.peft.tuner import AdapterConfig, IA3Model, LoraModel

_PeftT = TypeVar("_PeftT", bound="PeftModel")
_HUB_KEYS = ("revision", "cache_dir", "token", "local_files_only")


class PeftModel(nn.Module):
    """A base model plus named LoRA adapters. Build one with :func:`get_peft_model` or
    :meth:`PeftModel.from_pretrained`; train it like the base model; ``save_pretrained`` writes only the adapter."""

    default_modules_to_save: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model: nn.Module, peft_config: PeftConfig, adapter_name: str = "default") -> None:
        super().__init__()
        config = self._with_task_defaults(_as_supported(peft_config))
        tuner = IA3Model if isinstance(config, IA3Config) else LoraModel
        self.base_model = tuner(model, config, adapter_name)

    @classmethod
    def _with_task_defaults(cls, config: AdapterConfig) -> AdapterConfig:
        """Add the task's head (``classifier``/``score``, ``qa_outputs``) to ``modules_to_save``, as PEFT does."""
        if cls.default_modules_to_save:
            existing = config.modules_to_save or []
            config.modules_to_save = [*existing, *(m for m in cls.default_modules_to_save if m not in existing)]
        return config

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "base_model":
                raise
            return getattr(self.base_model, name)

    # ---- adapters ----------------------------------------------------------------------------------------------
    @property
    def peft_config(self) -> dict[str, AdapterConfig]:
        return self.base_model.peft_config

    @property
    def active_adapter(self) -> str:
        return self.base_model.active_adapter

    @property
    def active_adapters(self) -> list[str]:
        return [self.base_model.active_adapter]

    @property
    def active_peft_config(self) -> AdapterConfig:
        return self.peft_config[self.active_adapter]

    def get_base_model(self) -> nn.Module:
        """The wrapped model (with the LoRA layers in it)."""
        return self.base_model.model

    def add_adapter(self, adapter_name: str, peft_config: PeftConfig) -> None:
        """Add another adapter (not made active: call :meth:`set_adapter`)."""
        self.base_model.inject_adapter(adapter_name, self._with_task_defaults(_as_supported(peft_config)))

    def set_adapter(self, adapter_name: str) -> None:
        """Make ``adapter_name`` the one adapter used in forward passes (raises for an unknown name)."""
        self.base_model.set_adapter(adapter_name)

    def delete_adapter(self, adapter_name: str) -> None:
        self.base_model.delete_adapter(adapter_name)

    @contextlib.contextmanager
    def disable_adapter(self) -> Iterator[None]:
        """``with model.disable_adapter(): ...`` runs the base model alone (merged adapters are unmerged)."""
        self.base_model.disable_adapter_layers()
        try:
            yield
        finally:
            self.base_model.enable_adapter_layers()

    def merge_and_unload(self, progressbar: bool = False, safe_merge: bool = False,
                         adapter_names: list[str] | None = None) -> nn.Module:
        """Fold the active adapter into the base weights and return the plain base model."""
        return self.base_model.merge_and_unload(progressbar=progressbar, safe_merge=safe_merge,
                                                adapter_names=adapter_names)

    def unload(self) -> nn.Module:
        return self.base_model.unload()

    def merge_adapter(self, adapter_names: list[str] | None = None, safe_merge: bool = False) -> None:
        self.base_model.merge_adapter(adapter_names, safe_merge=safe_merge)

    def unmerge_adapter(self) -> None:
        self.base_model.unmerge_adapter()

    # ---- parameters --------------------------------------------------------------------------------------------
    def get_nb_trainable_parameters(self) -> tuple[int, int]:
        """``(trainable, total)`` parameter counts (shared weights counted once)."""
        trainable = total = 0
        for param in self.parameters():
            total += param.numel()
            if param.requires_grad:
                trainable += param.numel()
        return trainable, total

    def print_trainable_parameters(self) -> None:
        trainable, total = self.get_nb_trainable_parameters()
        print(f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {100 * trainable / total:.4f}")

    # ---- running -----------------------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.base_model(*args, **kwargs)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """The base model's ``generate`` with the active adapter applied."""
        return self.get_base_model().generate(*args, **kwargs)  # type: ignore[operator]

    # ---- files -------------------------------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike[str], *, selected_adapters: list[str] | None = None,
                        safe_serialization: bool = True, save_embedding_layers: bool | str = "auto",
                        is_main_process: bool = True, **_: Any) -> None:
        """Write ``adapter_config.json`` + ``adapter_model.safetensors`` per adapter (``default`` in the folder
        itself, others in ``<folder>/<name>/``), each file atomically. The base model's weights are not written."""
        folder = Path(save_directory)
        if folder.is_file():
            raise EmbraceFileNotFoundError(f"save_pretrained needs a folder, but {folder} is a file")
        names = selected_adapters if selected_adapters is not None else list(self.peft_config)
        for name in names:
            self.base_model.check_adapter(name)
        if not is_main_process:
            return
        for name in names:
            target = folder if name == "default" else folder / name
            target.mkdir(parents=True, exist_ok=True)
            save_adapter_file(adapter_state_dict(self, name, save_embedding_layers), target, safe_serialization)
            config = self.peft_config[name]
            saved = type(config).from_dict(config.to_dict(), inference_mode=True)
            if saved.base_model_name_or_path is None:
                saved.base_model_name_or_path = _name_or_path(self.get_base_model())
            saved.save_pretrained(target)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> Any:
        """Upload the adapter files (not the base model) to a hub repo as one commit."""
        import tempfile

        from embrace.hub import push_folder_to_hub

        selected = kwargs.pop("selected_adapters", None)
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, selected_adapters=selected)
            return push_folder_to_hub(tmp, repo_id, **kwargs)

    @classmethod
    def from_pretrained(cls: type[_PeftT], model: nn.Module, model_id: str | os.PathLike[str],
                        adapter_name: str = "default", is_trainable: bool = False, config: PeftConfig | None = None,
                        subfolder: str | None = None, **kwargs: Any) -> _PeftT:
        """Load an adapter saved by embrace or by the PEFT library onto ``model`` (a folder or hub repo id).

        ``is_trainable=False`` (default) freezes the adapter and puts the model in eval mode. The class follows the
        adapter's ``task_type`` (``PeftModel.from_pretrained`` on a CAUSAL_LM adapter gives a
        :class:`PeftModelForCausalLM`).
        """
        hub = {k: kwargs[k] for k in _HUB_KEYS if k in kwargs}
        lora = _as_supported(config) if config is not None else _as_supported(
            PeftConfig.from_pretrained(model_id, subfolder=subfolder, **hub))
        lora.inference_mode = not is_trainable
        peft_cls: type[PeftModel] = cls
        if cls is PeftModel and lora.task_type is not None:
            peft_cls = MODEL_TYPE_TO_PEFT_MODEL.get(TaskType(lora.task_type), PeftModel)
        peft_model = peft_cls(model, lora, adapter_name)
        peft_model._load_weights(model_id, adapter_name, is_trainable, subfolder, hub)
        return peft_model  # type: ignore[return-value]

    def load_adapter(self, model_id: str | os.PathLike[str], adapter_name: str, is_trainable: bool = False,
                     subfolder: str | None = None, **kwargs: Any) -> None:
        """Load another saved adapter under ``adapter_name`` (not made active; see :meth:`set_adapter`). When
        ``adapter_name`` exists already, its weights are replaced in place (resuming training keeps the optimizer)."""
        hub = {k: kwargs[k] for k in _HUB_KEYS if k in kwargs}
        created = adapter_name not in self.peft_config
        if created:
            lora = _as_supported(PeftConfig.from_pretrained(model_id, subfolder=subfolder, **hub))
            lora.inference_mode = not is_trainable
            self.add_adapter(adapter_name, lora)
        try:
            self._load_weights(model_id, adapter_name, is_trainable, subfolder, hub)
        except Exception:
            if created:  # a failed load_adapter leaves no half-loaded adapter behind
                self.base_model.delete_adapter(adapter_name)
            raise

    def _load_weights(self, model_id: str | os.PathLike[str], adapter_name: str, is_trainable: bool,
                      subfolder: str | None, hub: dict[str, Any]) -> None:
        state, source = read_adapter_file(model_id, subfolder=subfolder, **hub)
        load_adapter_state_dict(self, state, adapter_name, source)
        if not is_trainable:
            self.eval()


class PeftModelForCausalLM(PeftModel):
    """``forward(input_ids, attention_mask, labels, ...)`` -> the base causal LM's output; ``generate`` works."""


class PeftModelForSeq2SeqLM(PeftModel):
    pass


class PeftModelForSequenceClassification(PeftModel):
    """The classification head (``classifier`` or ``score``) trains in full and is saved with the adapter."""

    default_modules_to_save = ("classifier", "score")


class PeftModelForTokenClassification(PeftModel):
    default_modules_to_save = ("classifier", "score")


class PeftModelForQuestionAnswering(PeftModel):
    default_modules_to_save = ("qa_outputs",)


class PeftModelForFeatureExtraction(PeftModel):
    pass


MODEL_TYPE_TO_PEFT_MODEL: dict[TaskType, type[PeftModel]] = {
    TaskType.CAUSAL_LM: PeftModelForCausalLM,
    TaskType.SEQ_2_SEQ_LM: PeftModelForSeq2SeqLM,
    TaskType.SEQ_CLS: PeftModelForSequenceClassification,
    TaskType.TOKEN_CLS: PeftModelForTokenClassification,
    TaskType.QUESTION_ANS: PeftModelForQuestionAnswering,
    TaskType.FEATURE_EXTRACTION: PeftModelForFeatureExtraction,
}


def get_peft_model(model: nn.Module, peft_config: PeftConfig, adapter_name: str = "default", **_: Any) -> PeftModel:
    """Wrap ``model``'s target modules with LoRA in place and freeze everything else. The class follows
    ``peft_config.task_type`` (:class:`PeftModelForCausalLM` for ``"CAUSAL_LM"``, ...)."""
    lora = _as_supported(peft_config)
    peft_cls = MODEL_TYPE_TO_PEFT_MODEL.get(TaskType(lora.task_type), PeftModel) if lora.task_type else PeftModel
    if lora.base_model_name_or_path is None:
        lora.base_model_name_or_path = _name_or_path(model)
    return peft_cls(model, lora, adapter_name)


def _as_supported(config: PeftConfig) -> AdapterConfig:
    if not isinstance(config, LoraConfig | IA3Config):
        raise AdapterConfigError(f"embrace implements LoRA and IA3 adapters; got a {type(config).__name__}")
    return config


def _name_or_path(model: nn.Module) -> str | None:
    config = getattr(model, "config", None)
    value = getattr(model, "name_or_path", None) or getattr(config, "name_or_path", None) or getattr(
        config, "_name_or_path", None)
    return str(value) if value else None
