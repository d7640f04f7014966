"""The base model config: a dataclass whose fields are named as in ``config.json``.

Unknown keys are kept (``extra``) and written back on save, so a config round-trips through embrace unchanged.
Each family subclasses it as another dataclass and fills derived defaults in ``__post_init__``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from embrace.errors import InvalidConfigError
from embrace.io import atomic_write_text

CONFIG_NAME = "config.json"
_ConfigT = TypeVar("_ConfigT", bound="PretrainedConfig")

# Keys HF writes that carry no information for us; they are accepted and not written back as "extra".
_IGNORED_KEYS = {"transformers_version", "_name_or_path", "_attn_implementation_autoset", "_commit_hash"}


@dataclass(kw_only=True)
class PretrainedConfig:
    """Fields shared by every family. ``num_labels`` is derived from ``id2label`` (or creates it)."""

    model_type: ClassVar[str] = ""

    architectures: list[str] | None = None
    id2label: dict[int, str] | None = None
    label2id: dict[str, int] | None = None
    num_labels: int | None = None
    problem_type: str | None = None
    dtype: str | None = None
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    tie_word_embeddings: bool = True
    is_encoder_decoder: bool = False
    is_decoder: bool = False
    output_hidden_states: bool = False
    output_attentions: bool = False
    use_cache: bool = True
    initializer_range: float = 0.02
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.id2label is not None:
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
        elif self.label2id is not None:
            self.id2label = {int(v): str(k) for k, v in self.label2id.items()}
        else:
            self.id2label = {i: f"LABEL_{i}" for i in range(self.num_labels if self.num_labels is not None else 2)}
        if self.num_labels is not None and self.num_labels != len(self.id2label):
            self.id2label = {i: f"LABEL_{i}" for i in range(self.num_labels)}
        self.label2id = {v: k for k, v in self.id2label.items()}
        self.num_labels = len(self.id2label)
        if self.problem_type not in (None, "regression", "single_label_classification", "multi_label_classification"):
            raise InvalidConfigError(
                f"problem_type must be regression, single_label_classification or multi_label_classification, "
                f"got {self.problem_type!r}"
            )

    # ---- dict / JSON -------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls: type[_ConfigT], config_dict: dict[str, Any], **overrides: Any) -> _ConfigT:
        """Build from a ``config.json`` dict; unknown keys go to ``extra``; ``overrides`` win over the file."""
        data = {**config_dict, **overrides}
        if "torch_dtype" in data:  # transformers 4.x name
            data.setdefault("dtype", data.pop("torch_dtype"))
        known = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "extra"}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known and k not in _IGNORED_KEYS and k != "model_type"}
        try:
            return cls(**kwargs, extra=extra)
        except TypeError as exc:
            raise InvalidConfigError(f"invalid {cls.__name__} fields: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """The ``config.json`` dict: every field, the unknown keys read from the file, and ``model_type``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in ("extra", "num_labels"):
                continue
            out[f.name] = copy.deepcopy(getattr(self, f.name))
        if out.get("id2label") is not None:
            out["id2label"] = {str(k): v for k, v in out["id2label"].items()}
        out.update(copy.deepcopy(self.extra))
        out["model_type"] = self.model_type
        return out

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: expose keys kept from config.json (HF code reads them as attributes).
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    # ---- files ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_json_file(cls: type[_ConfigT], path: str | os.PathLike[str]) -> _ConfigT:
        return cls.from_dict(read_config_dict(Path(path)))

    @classmethod
    def from_pretrained(cls: type[_ConfigT], path_or_repo_id: str | os.PathLike[str], **kwargs: Any) -> _ConfigT:
        """Load ``config.json`` from a folder or a hub repo id (HF cache; see ``embrace.hub.resolve``)."""
        hub_kwargs = pop_hub_kwargs(kwargs)
        from embrace.hub.resolve import cached_file

        path = cached_file(path_or_repo_id, CONFIG_NAME, **hub_kwargs)
        assert path is not None
        return cls.from_dict(read_config_dict(path), **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> Path:
        folder = Path(save_directory)
        if folder.is_file():
            raise InvalidConfigError(f"save_pretrained needs a folder, but {folder} is a file")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / CONFIG_NAME
        atomic_write_text(target, self.to_json_string())
        return target


HUB_KWARGS = ("revision", "cache_dir", "token", "local_files_only")


def pop_hub_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the file-resolution arguments (revision, cache_dir, token, local_files_only) out of ``kwargs``."""
    return {k: kwargs.pop(k) for k in HUB_KWARGS if k in kwargs}


def read_config_dict(path: Path) -> dict[str, Any]:
    """Read a JSON config with an error that names the file when it is not valid JSON."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidConfigError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}). "
            "Restore the file or save the model again."
        ) from exc
    except UnicodeDecodeError as exc:
        raise InvalidConfigError(f"{path} is not UTF-8 text; it is not a config.json") from exc
    if not isinstance(data, dict):
        raise InvalidConfigError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data
