"""Tokenizer trainers (BPE, WordPiece, Unigram) producing tokenizer.json-shaped models."""

from embrace.tokenizers.trainers._common import TrainerError
from embrace.tokenizers.trainers.bpe import BpeTrainer, TrainResult, WordPieceTrainer

__all__ = ["BpeTrainer", "TrainResult", "TrainerError", "WordPieceTrainer"]
