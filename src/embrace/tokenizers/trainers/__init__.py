"""Tokenizer trainers (BPE, WordPiece, Unigram) producing tokenizer.json-shaped models."""

from embrace.tokenizers.trainers._common import TrainerError
from embrace.tokenizers.trainers.bpe import BpeTrainer, TrainResult, WordPieceTrainer
from embrace.tokenizers.trainers.unigram import UnigramTrainer

__all__ = ["BpeTrainer", "TrainResult", "TrainerError", "UnigramTrainer", "WordPieceTrainer"]
