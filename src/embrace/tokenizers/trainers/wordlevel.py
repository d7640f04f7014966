"""WordLevel trainer: the most frequent words become the vocabulary (as the reference's WordLevelTrainer)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from embrace.tokenizers.trainers._common import TrainerError, check_word_counts, special_token_entries
from embrace.tokenizers.trainers.bpe import TrainResult


@dataclass
class WordLevelTrainer:
    """Special tokens first, then words by decreasing count (ties by word), those below ``min_frequency``
    dropped, cut at ``vocab_size``."""

    vocab_size: int = 30000
    min_frequency: int = 0
    show_progress: bool = True
    special_tokens: list[Any] = field(default_factory=list)

    model_type = "WordLevel"

    def train_words(self, word_counts: Mapping[str, int], base_model: dict[str, Any] | None = None) -> TrainResult:
        if base_model is not None and base_model.get("type", "WordLevel") != "WordLevel":
            raise TrainerError(
                f"WordLevelTrainer trains a WordLevel model, the tokenizer has a {base_model.get('type')} model"
            )
        counts = check_word_counts(word_counts)
        specials = special_token_entries(self.special_tokens)
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        tokens = [e["content"] for e in specials] + [w for w, n in ordered if n >= self.min_frequency]
        vocab: dict[str, int] = {}
        for i, token in enumerate(tokens[: self.vocab_size]):
            vocab[token] = i  # a word equal to a special token takes the later id, as the reference's map does
        base = base_model or {}
        model = {"type": "WordLevel", "vocab": vocab, "unk_token": base.get("unk_token", "<unk>")}
        return TrainResult(model, specials)
