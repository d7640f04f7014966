"""What every model that can ``generate()`` shares: its ``generation_config`` (from ``generation_config.json`` next
to the weights, else derived from config.json) and saving it next to the weights."""

from __future__ import annotations

import os
from typing import Any


class GenerationConfigMixin:
    """Mixed in before :class:`PreTrainedModel` by causal-LM and seq2seq model classes."""

    config: Any

    @property
    def generation_config(self) -> Any:
        gen = self.__dict__.get("_generation_config")
        if gen is None:
            from embrace.generation.config import GenerationConfig

            gen = GenerationConfig.from_model_config(self.config)
            self.__dict__["_generation_config"] = gen
        return gen

    @generation_config.setter
    def generation_config(self, value: Any) -> None:
        self.__dict__["_generation_config"] = value

    def load_generation_config(self, path_or_repo_id: str | os.PathLike[str], **hub: Any) -> None:
        """Read ``generation_config.json`` from the model's folder or repo (derived from config.json if absent)."""
        from embrace.generation.config import GenerationConfig

        self.generation_config = GenerationConfig.from_pretrained_or_model(path_or_repo_id, self.config, **hub)

    def save_generation_config(self, save_directory: str | os.PathLike[str]) -> None:
        """Write ``generation_config.json`` when one was loaded or set (as the reference does)."""
        gen = self.__dict__.get("_generation_config")
        if gen is not None:
            gen.save_pretrained(save_directory)
