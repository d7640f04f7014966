"""``GenerationConfig``: the decoding settings, read from and written to ``generation_config.json``.

As in the reference, every field starts unset (None); :meth:`GenerationConfig.resolved` fills the unset ones
with the reference's defaults (``max_length=20``, greedy, ``top_k=50`` when sampling ...), so a file only
records what its author chose. Unknown keys are kept and written back.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embrace.errors import EmbraceError
from embrace.io import atomic_write_text

GENERATION_CONFIG_NAME = "generation_config.json"


class GenerationConfigError(EmbraceError, ValueError):
    """A generation setting is out of range or inconsistent with the others."""


DEFAULTS: dict[str, Any] = {
    "max_length": 20, "min_length": 0, "do_sample": False, "use_cache": True, "early_stopping": False,
    "num_beams": 1, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "typical_p": 1.0, "repetition_penalty": 1.0,
    "length_penalty": 1.0, "no_repeat_ngram_size": 0, "num_return_sequences": 1, "output_scores": False,
    "output_logits": False, "return_dict_in_generate": False, "renormalize_logits": False,
}


@dataclass(kw_only=True)
class GenerationConfig:
    max_length: int | None = None
    max_new_tokens: int | None = None
    min_length: int | None = None
    min_new_tokens: int | None = None
    early_stopping: bool | str | None = None
    stop_strings: str | list[str] | None = None
    do_sample: bool | None = None
    num_beams: int | None = None
    use_cache: bool | None = None
    cache_implementation: str | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    typical_p: float | None = None
    repetition_penalty: float | None = None
    length_penalty: float | None = None
    no_repeat_ngram_size: int | None = None
    bad_words_ids: list[list[int]] | None = None
    renormalize_logits: bool | None = None
    num_return_sequences: int | None = None
    output_scores: bool | None = None
    output_logits: bool | None = None
    return_dict_in_generate: bool | None = None
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    decoder_start_token_id: int | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | list[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    # ---- construction --------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> GenerationConfig:
        data = {**data, **overrides}
        known = {f.name for f in dataclasses.fields(cls) if f.name != "extra"}
        extra = {k: v for k, v in data.items() if k not in known and k != "transformers_version"}
        return cls(**{k: v for k, v in data.items() if k in known}, extra=extra)

    @classmethod
    def from_model_config(cls, model_config: Any) -> GenerationConfig:
        """Token ids (bos/eos/pad) and any generation keys a model's config.json carries."""
        data = model_config.to_dict() if hasattr(model_config, "to_dict") else dict(model_config)
        known = {f.name for f in dataclasses.fields(cls) if f.name != "extra"}
        return cls(**{k: v for k, v in data.items() if k in known and v is not None})

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | os.PathLike[str], config_file_name: str | None = None,
                        **hub_kwargs: Any) -> GenerationConfig:
        from embrace.hub.resolve import cached_file

        path = cached_file(os.fspath(path_or_repo_id), config_file_name or GENERATION_CONFIG_NAME, **hub_kwargs)
        assert path is not None
        return cls.from_json_file(path)

    @classmethod
    def from_pretrained_or_model(cls, path_or_repo_id: str | os.PathLike[str], model_config: Any,
                                 **hub_kwargs: Any) -> GenerationConfig:
        """``generation_config.json`` next to the weights when present, else derived from the model config."""
        from embrace.hub.resolve import cached_file

        path = cached_file(os.fspath(path_or_repo_id), GENERATION_CONFIG_NAME, missing_ok=True, **hub_kwargs)
        return cls.from_json_file(path) if path is not None else cls.from_model_config(model_config)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike[str]) -> GenerationConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GenerationConfigError(f"{path} is not a valid JSON generation config: {exc}") from exc
        if not isinstance(data, dict):
            raise GenerationConfigError(f"{path} must hold a JSON object")
        return cls.from_dict(data)

    # ---- output --------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The set fields (None omitted) plus kept unknown keys: what goes into generation_config.json."""
        out = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "extra"}
        out = {k: v for k, v in out.items() if v is not None}
        out.update(copy.deepcopy(self.extra))
        return out

    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> Path:
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / GENERATION_CONFIG_NAME
        atomic_write_text(target, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return target

    def update(self, **kwargs: Any) -> dict[str, Any]:
        """Set known fields from ``kwargs``; return the keys that are not generation settings."""
        names = {f.name for f in dataclasses.fields(self)} - {"extra"}
        unused = {}
        for key, value in kwargs.items():
            if key in names:
                setattr(self, key, value)
            else:
                unused[key] = value
        return unused

    def resolved(self) -> GenerationConfig:
        """A copy with every unset field given the reference's default, validated."""
        out = copy.deepcopy(self)
        for key, value in DEFAULTS.items():
            if getattr(out, key) is None:
                setattr(out, key, value)
        out.validate()
        return out

    def validate(self) -> None:
        """Raise :class:`GenerationConfigError` for values the decoding loop cannot honour."""
        def bad(msg: str) -> GenerationConfigError:
            return GenerationConfigError(msg)

        if self.temperature is not None and self.temperature <= 0 and self.do_sample:
            raise bad(f"temperature must be > 0 when sampling, got {self.temperature}; use do_sample=False for greedy")
        if self.temperature is not None and self.temperature < 0:
            raise bad(f"temperature must be >= 0, got {self.temperature}")
        if self.top_p is not None and not 0.0 <= self.top_p <= 1.0:
            raise bad(f"top_p must be in [0, 1], got {self.top_p}")
        if self.min_p is not None and not 0.0 <= self.min_p <= 1.0:
            raise bad(f"min_p must be in [0, 1], got {self.min_p}")
        if self.typical_p is not None and not 0.0 < self.typical_p <= 1.0:
            raise bad(f"typical_p must be in (0, 1], got {self.typical_p}")
        if self.top_k is not None and self.top_k < 0:
            raise bad(f"top_k must be >= 0, got {self.top_k}")
        if self.repetition_penalty is not None and self.repetition_penalty <= 0:
            raise bad(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if self.num_beams is not None and self.num_beams < 1:
            raise bad(f"num_beams must be >= 1, got {self.num_beams}")
        nrs = self.num_return_sequences or 1
        if nrs < 1:
            raise bad(f"num_return_sequences must be >= 1, got {nrs}")
        if (self.num_beams or 1) > 1 and nrs > (self.num_beams or 1):
            raise bad(f"num_return_sequences ({nrs}) cannot exceed num_beams ({self.num_beams})")
        if not self.do_sample and (self.num_beams or 1) == 1 and nrs > 1:
            raise bad(f"greedy search returns one sequence per prompt; num_return_sequences={nrs} needs "
                      "do_sample=True or num_beams >= num_return_sequences")
        for name in ("max_new_tokens", "max_length"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise bad(f"{name} must be >= 0, got {value}")
        if self.no_repeat_ngram_size is not None and self.no_repeat_ngram_size < 0:
            raise bad(f"no_repeat_ngram_size must be >= 0, got {self.no_repeat_ngram_size}")
        if self.bad_words_ids is not None and (not isinstance(self.bad_words_ids, list) or not all(
                isinstance(w, list) and w and all(isinstance(t, int) and t >= 0 for t in w)
                for w in self.bad_words_ids)):
            raise bad("bad_words_ids must be a list of non-empty lists of non-negative token ids, "
                      f"got {self.bad_words_ids!r}")
