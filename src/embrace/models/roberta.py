"""RoBERTa and XLM-RoBERTa: BERT blocks with padding-aware position ids and their own heads (``lm_head``,
``classifier.dense/out_proj``). XLM-R differs only in ``model_type``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from embrace.models.bert import LEGACY_LAYER_NORM_RULES, BertConfig, BertEmbeddings, BertModel
from embrace.models.encoder_heads import (
    ForMaskedLM,
    ForQuestionAnswering,
    ForSequenceClassification,
    ForTokenClassification,
)
from embrace.models.layers import padding_aware_position_ids
from embrace.models.linear import Linear
from embrace.models.modeling import PreTrainedModel
from embrace.models.outputs import BaseModelOutputWithPooling


@dataclass(kw_only=True)
class RobertaConfig(BertConfig):
    model_type: ClassVar[str] = "roberta"

    vocab_size: int = 50265
    max_position_embeddings: int = 514
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2


@dataclass(kw_only=True)
class XLMRobertaConfig(RobertaConfig):
    model_type: ClassVar[str] = "xlm-roberta"

    vocab_size: int = 250002


class RobertaEmbeddings(BertEmbeddings):
    """Positions count non-padding tokens starting at ``pad_token_id + 1`` (pads keep ``pad_token_id``)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.padding_idx = config.pad_token_id if config.pad_token_id is not None else 1
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size,
                                                padding_idx=self.padding_idx)

    def make_position_ids(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return padding_aware_position_ids(input_ids, inputs_embeds, self.padding_idx)


class RobertaPreTrainedModel(PreTrainedModel):
    config_class = RobertaConfig
    base_model_prefix = "roberta"
    rename_rules = LEGACY_LAYER_NORM_RULES


class RobertaModel(RobertaPreTrainedModel, BertModel):
    embeddings_class = RobertaEmbeddings


class RobertaLMHead(nn.Module):
    """dense -> gelu -> layer_norm -> decoder (+ shared bias)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.layer_norm(torch.nn.functional.gelu(self.dense(hidden))))


class RobertaClassificationHead(nn.Module):
    """First token -> dropout -> dense -> tanh -> dropout -> out_proj. Also MPNet's classifier."""

    def __init__(self, config: BertConfig, dropout: float) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = Linear(config.hidden_size, config.num_labels or 2)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.dropout(hidden[:, 0])
        return self.out_proj(self.dropout(torch.tanh(self.dense(x))))


class RobertaLikeMaskedLM(ForMaskedLM):
    """``lm_head`` MLM head shared by RoBERTa, XLM-R and MPNet."""

    def build_lm_head(self) -> None:
        self.lm_head = RobertaLMHead(self.config)

    def lm_logits(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.lm_head(sequence_output)


class RobertaLikeSequenceClassification(ForSequenceClassification):
    """``classifier.dense/out_proj`` head on the first token, shared by RoBERTa, XLM-R and MPNet."""

    def build_classifier(self) -> None:
        self.classifier = RobertaClassificationHead(self.config, self.dropout_prob())

    def classify(self, out: BaseModelOutputWithPooling) -> torch.Tensor:
        return self.classifier(out.last_hidden_state)


class RobertaForMaskedLM(RobertaPreTrainedModel, RobertaLikeMaskedLM):
    body_class = RobertaModel
    tied_weights = {"lm_head.decoder.weight": "roberta.embeddings.word_embeddings.weight"}
    aliased_weights = {"lm_head.decoder.bias": "lm_head.bias"}


class RobertaForSequenceClassification(RobertaPreTrainedModel, RobertaLikeSequenceClassification):
    body_class = RobertaModel


class RobertaForTokenClassification(RobertaPreTrainedModel, ForTokenClassification):
    body_class = RobertaModel


class RobertaForQuestionAnswering(RobertaPreTrainedModel, ForQuestionAnswering):
    body_class = RobertaModel


class XLMRobertaPreTrainedModel(RobertaPreTrainedModel):
    config_class = XLMRobertaConfig


class XLMRobertaModel(XLMRobertaPreTrainedModel, RobertaModel):
    pass


class XLMRobertaForMaskedLM(XLMRobertaPreTrainedModel, RobertaForMaskedLM):
    body_class = XLMRobertaModel


class XLMRobertaForSequenceClassification(XLMRobertaPreTrainedModel, RobertaForSequenceClassification):
    body_class = XLMRobertaModel


class XLMRobertaForTokenClassification(XLMRobertaPreTrainedModel, RobertaForTokenClassification):
    body_class = XLMRobertaModel


class XLMRobertaForQuestionAnswering(XLMRobertaPreTrainedModel, RobertaForQuestionAnswering):
    body_class = XLMRobertaModel
