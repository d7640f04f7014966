"""Tokenizer trainers (BPE, WordPiece, Unigram, WordLevel) producing tokenizer.json-shaped models.

``BpeTrainer`` / ``WordPieceTrainer`` / ``UnigramTrainer`` / ``WordLevelTrainer`` learn from ``{word: count}``
(``trainer.train_words(counts)``); ``train_from_iterator`` / ``train_from_files`` run a tokenizer's own
normalizer and pre-tokenizer over raw text first, as ``tokenizers.Tokenizer.train_from_iterator`` does.
"""

from embrace.tokenizers.trainers._common import TrainerError
from embrace.tokenizers.trainers.bpe import BpeTrainer, TrainResult, WordPieceTrainer
from embrace.tokenizers.trainers.pipeline import count_words, train_from_files, train_from_iterator
from embrace.tokenizers.trainers.unigram import UnigramTrainer
from embrace.tokenizers.trainers.wordlevel import WordLevelTrainer

__all__ = [
    "BpeTrainer",
    "TrainResult",
    "TrainerError",
    "UnigramTrainer",
    "WordLevelTrainer",
    "WordPieceTrainer",
    "count_words",
    "train_from_files",
    "train_from_iterator",
]
