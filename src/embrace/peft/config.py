"""Adapter configs in the PEFT file format (``adapter_config.json``): :class:`LoraConfig` and the enums.

Field names and defaults are the PEFT library's, so a config it wrote loads here and one written here loads there.
Keys of PEFT features embrace does not implement are kept (``extra``) and written back; a file that *switches on*
such a feature (DoRA, rank patterns, ...) is refused with a clear error instead of being silently mis-applied.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from embrace.io import atomic_write_text
from embrace.peft.errors import AdapterConfigError

CONFIG_NAME = "adapter_config.json"
PEFT_FORMAT_VERSION = "0.18.0"  # written as "peft_version": the oldest PEFT whose LoRA files match ours
_ConfigT = TypeVar("_ConfigT", bound="PeftConfig")


class TaskType(enum.StrEnum):
    """What the base model does; picks the ``PeftModel`` subclass (and default ``modules_to_save``)."""

    SEQ_CLS = "SEQ_CLS"
    SEQ_2_SEQ_LM = "SEQ_2_SEQ_LM"
    CAUSAL_LM = "CAUSAL_LM"
    TOKEN_CLS = "TOKEN_CLS"
    QUESTION_ANS = "QUESTION_ANS"
    FEATURE_EXTRACTION = "FEATURE_EXTRACTION"


class PeftType(enum.StrEnum):
    LORA = "LORA"
    IA3 = "IA3"


# Keys PEFT writes for features we do not implement, with the value that means "off". Any other value is refused.
_UNSUPPORTED_OFF_VALUES: dict[str, tuple[Any, ...]] = {
    "use_dora": (False, None), "rank_pattern": ({}, None), "alpha_pattern": ({}, None),
    "layers_to_transform": (None, []), "layer_replication": (None,), "loftq_config": ({}, None),
    "target_parameters": (None, []), "trainable_token_indices": (None,), "use_qalora": (False, None),
    "lora_bias": (False, None), "alora_invocation_tokens": (None,), "arrow_config": (None,),
    "use_bdlora": (None, False), "eva_config": (None,), "corda_config": (None,), "megatron_config": (None,),
    "velora_config": (None,), "monteclora_config": (None,), "kasa_config": (None,), "lora_ga_config": (None,),
    "ensure_weight_tying": (False, None),
}
_INIT_CHOICES = (True, False, "gaussian")
_BIAS_CHOICES = ("none", "all", "lora_only")


@dataclass(kw_only=True)
class PeftConfig:
    """Fields shared by every adapter type."""

    peft_type: ClassVar[PeftType]
    task_type: TaskType | str | None = None
    inference_mode: bool = False
    base_model_name_or_path: str | None = None
    revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.task_type is not None:
            try:
                self.task_type = TaskType(self.task_type)
            except ValueError:
                raise AdapterConfigError(
                    f"unknown task_type {self.task_type!r}; use one of {[t.value for t in TaskType]}") from None

    # ---- dict / JSON ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The ``adapter_config.json`` content (sets become sorted lists, enums their values)."""
        out: dict[str, Any] = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, set | frozenset):
                value = sorted(value)
            out[f.name] = value
        out["peft_type"] = self.peft_type.value
        return dict(sorted(out.items()))

    @classmethod
    def from_dict(cls: type[_ConfigT], data: dict[str, Any], **overrides: Any) -> _ConfigT:
        """Build from an ``adapter_config.json`` dict; unknown keys are kept in ``extra``."""
        data = {**data, **overrides}
        peft_type = data.pop("peft_type", cls.peft_type.value)
        if peft_type != cls.peft_type.value:
            raise AdapterConfigError(f"this adapter is of type {peft_type!r}; embrace loads {cls.peft_type.value} "
                                     "adapters with this class")
        known = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "extra"}
        extra = {k: v for k, v in data.items() if k not in known}
        for key, off_values in _UNSUPPORTED_OFF_VALUES.items():
            if key in extra and extra[key] not in off_values:
                raise AdapterConfigError(f"adapter config sets {key}={extra[key]!r}, a PEFT feature embrace does not "
                                         "implement; retrain the adapter without it or merge it with the PEFT library")
        extra.pop("peft_version", None)
        return cls(**{k: v for k, v in data.items() if k in known}, extra=extra)

    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> Path:
        """Write ``adapter_config.json`` (atomically) into ``save_directory``."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        data = {**self.to_dict(), "peft_version": PEFT_FORMAT_VERSION}
        path = folder / CONFIG_NAME
        atomic_write_text(path, json.dumps(dict(sorted(data.items())), indent=2) + "\n")
        return path

    @classmethod
    def from_pretrained(cls: type[_ConfigT], path_or_repo_id: str | os.PathLike[str], *, subfolder: str | None = None,
                        **hub_kwargs: Any) -> _ConfigT:
        """Read ``adapter_config.json`` from a folder or a hub repo id (``PeftConfig.from_pretrained`` returns the
        config class its ``peft_type`` names)."""
        from embrace.hub.resolve import cached_file

        name = f"{subfolder}/{CONFIG_NAME}" if subfolder else CONFIG_NAME
        path = cached_file(path_or_repo_id, name, **hub_kwargs)
        assert path is not None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AdapterConfigError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise AdapterConfigError(f"{path} must hold a JSON object")
        if cls is PeftConfig:
            return cast(_ConfigT, config_class_for(data.get("peft_type")).from_dict(data))
        return cls.from_dict(data)


@dataclass(kw_only=True)
class LoraConfig(PeftConfig):
    """LoRA: ``W x + (B A x) * scaling`` on the targeted Linear / Embedding / GPT-2 Conv1D layers.

    ``target_modules``: module-name suffixes (``["q_proj", "v_proj"]``), a regex matched against the full module
    name (``r".*\\.(q|v)_proj"``), or ``"all-linear"`` (every linear layer except the output head). ``None``
    uses the default for the model family (as PEFT does). ``scaling = lora_alpha / r`` (``/ sqrt(r)`` with
    ``use_rslora``). ``init_lora_weights``: ``True`` (A Kaiming-uniform, B zero: the adapter starts as a no-op),
    ``"gaussian"`` (A normal with std ``1/r``) or ``False`` (random B too; for tests). ``bias``: which biases
    train (``"none"``, ``"all"``, ``"lora_only"``). ``modules_to_save``: modules trained fully and saved in the
    adapter (a classification head). ``fan_in_fan_out``: the base layer stores its weight as ``(in, out)`` (GPT-2
    Conv1D; set automatically when such a layer is targeted).
    """

    peft_type: ClassVar[PeftType] = PeftType.LORA

    r: int = 8
    lora_alpha: int | float = 8
    lora_dropout: float = 0.0
    target_modules: list[str] | set[str] | str | None = None
    exclude_modules: list[str] | set[str] | str | None = None
    fan_in_fan_out: bool = False
    bias: str = "none"
    use_rslora: bool = False
    modules_to_save: list[str] | None = None
    init_lora_weights: bool | str = True
    layers_pattern: list[str] | str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r <= 0:
            raise AdapterConfigError(f"r must be a positive integer, got {self.r!r}")
        if not 0.0 <= float(self.lora_dropout) < 1.0:
            raise AdapterConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if self.bias not in _BIAS_CHOICES:
            raise AdapterConfigError(f"bias must be one of {_BIAS_CHOICES}, got {self.bias!r}")
        init = self.init_lora_weights
        if init not in _INIT_CHOICES or (isinstance(init, str) and init != "gaussian"):
            raise AdapterConfigError(f"init_lora_weights must be True, False or 'gaussian', got {init!r} "
                                     "(PiSSA/OLoRA/LoftQ inits are not implemented)")
        if isinstance(self.target_modules, list | tuple | set | frozenset):
            self.target_modules = set(self.target_modules)
        if isinstance(self.exclude_modules, list | tuple | set | frozenset):
            self.exclude_modules = set(self.exclude_modules)
        if self.modules_to_save is not None:
            self.modules_to_save = list(self.modules_to_save)

    @property
    def scaling(self) -> float:
        return self.lora_alpha / (self.r ** 0.5 if self.use_rslora else self.r)


# model_type -> LoRA target modules when the config gives none: the PEFT library's table for the families we have,
# plus DistilBERT and MPNet (which PEFT has no default for)
DEFAULT_LORA_TARGETS: dict[str, list[str]] = {
    "llama": ["q_proj", "v_proj"], "mistral": ["q_proj", "v_proj"], "qwen2": ["q_proj", "v_proj"],
    "gemma": ["q_proj", "v_proj"], "gpt2": ["c_attn"], "bert": ["query", "value"], "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"], "distilbert": ["q_lin", "v_lin"], "mpnet": ["q", "v"],
    "t5": ["q", "v"], "mt5": ["q", "v"], "bart": ["q_proj", "v_proj"], "opt": ["q_proj", "v_proj"],
    "gpt_neox": ["query_key_value"], "phi": ["q_proj", "v_proj", "fc1", "fc2"],
}


@dataclass(kw_only=True)
class IA3Config(PeftConfig):
    """(IA)^3: learned vectors that rescale the outputs of the targeted layers, or for ``feedforward_modules``
    their inputs. ``init_ia3_weights=True`` starts them at 1 (a no-op). ``feedforward_modules`` must be a subset
    of ``target_modules``; both default to the PEFT library's table for the model family."""

    peft_type: ClassVar[PeftType] = PeftType.IA3

    target_modules: list[str] | set[str] | str | None = None
    exclude_modules: list[str] | set[str] | str | None = None
    feedforward_modules: list[str] | set[str] | str | None = None
    fan_in_fan_out: bool = False
    modules_to_save: list[str] | None = None
    init_ia3_weights: bool = True

    layers_pattern: ClassVar[None] = None  # not an IA3 option; the target matcher reads it

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("target_modules", "exclude_modules", "feedforward_modules"):
            value = getattr(self, name)
            if isinstance(value, list | tuple | set | frozenset):
                setattr(self, name, set(value))
        if isinstance(self.feedforward_modules, set) and isinstance(self.target_modules, set) \
                and not self.feedforward_modules <= self.target_modules:
            raise AdapterConfigError(f"feedforward_modules {sorted(self.feedforward_modules)} must be a subset of "
                                     f"target_modules {sorted(self.target_modules)}")
        if self.modules_to_save is not None:
            self.modules_to_save = list(self.modules_to_save)


def config_class_for(peft_type: Any) -> type[PeftConfig]:
    """The config class of a ``peft_type`` value from ``adapter_config.json``."""
    classes: dict[str, type[PeftConfig]] = {PeftType.LORA.value: LoraConfig, PeftType.IA3.value: IA3Config}
    if peft_type not in classes:
        raise AdapterConfigError(f"adapter type {peft_type!r} is not supported by embrace (it loads LORA and IA3 "
                                 "adapters)")
    return classes[peft_type]


# model_type -> (IA3 target modules, feed-forward modules): the PEFT library's table for the families we have
DEFAULT_IA3_TARGETS: dict[str, tuple[list[str], list[str]]] = {
    "llama": (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
    "mistral": (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
    "qwen2": (["q_proj", "v_proj", "down_proj"], ["down_proj"]),
    "gemma": (["q_proj", "v_proj", "down_proj"], ["down_proj"]),
    "gpt2": (["c_attn", "mlp.c_proj"], ["mlp.c_proj"]),
    "bert": (["key", "value", "output.dense"], ["output.dense"]),
    "roberta": (["key", "value", "output.dense"], ["output.dense"]),
    "t5": (["k", "v", "wo"], ["wo"]), "mt5": (["k", "v", "wi_1"], []),
    "bart": (["q_proj", "v_proj", "fc2"], ["fc2"]), "opt": (["q_proj", "k_proj", "fc2"], ["fc2"]),
    "gpt_neox": (["query_key_value", "dense_4h_to_h"], ["dense_4h_to_h"]),
    "phi": (["q_proj", "v_proj", "fc2"], ["fc2"]),
}
