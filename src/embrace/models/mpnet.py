"""MPNet: BERT-like blocks named ``attention.attn.q/k/v/o`` plus a T5-style relative position bias shared by all
layers (``encoder.relative_attention_bias``); RoBERTa-style positions and heads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from embrace.models.bert import BertConfig, BertIntermediate, BertPooler, BertSelfOutput, check_inputs, run_layers
from embrace.models.encoder_heads import ForQuestionAnswering, ForTokenClassification
from embrace.models.layers import (
    TokenPositionEmbeddings,
    multi_head_self_attention,
    padding_aware_position_ids,
    padding_mask_to_bias,
    relative_position_bucket,
)
from embrace.models.linear import Linear
from embrace.models.modeling import PreTrainedModel
from embrace.models.outputs import BaseModelOutputWithPooling
from embrace.models.roberta import RobertaLikeMaskedLM, RobertaLikeSequenceClassification


@dataclass(kw_only=True)
class MPNetConfig(BertConfig):
    model_type: ClassVar[str] = "mpnet"

    vocab_size: int = 30527
    max_position_embeddings: int = 514
    relative_attention_num_buckets: int = 32
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2


class MPNetEmbeddings(TokenPositionEmbeddings):
    padding_idx = 1  # fixed in the reference, whatever pad_token_id says

    def __init__(self, config: MPNetConfig) -> None:
        super().__init__(config.vocab_size, config.hidden_size, config.max_position_embeddings,
                         eps=config.layer_norm_eps, dropout=config.hidden_dropout_prob,
                         word_padding_idx=self.padding_idx, position_padding_idx=self.padding_idx)

    def make_position_ids(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return padding_aware_position_ids(input_ids, inputs_embeds, self.padding_idx)


class MPNetSelfAttention(nn.Module):
    def __init__(self, config: MPNetConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.q = Linear(config.hidden_size, config.hidden_size)
        self.k = Linear(config.hidden_size, config.hidden_size)
        self.v = Linear(config.hidden_size, config.hidden_size)
        self.o = Linear(config.hidden_size, config.hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        out, weights = multi_head_self_attention(hidden, (self.q, self.k, self.v), self.num_heads, bias,
                                                 dropout=self.dropout_prob if self.training else 0.0,
                                                 need_weights=need_weights)
        return self.o(out), weights


class MPNetAttention(nn.Module):
    def __init__(self, config: MPNetConfig) -> None:
        super().__init__()
        self.attn = MPNetSelfAttention(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attn(hidden, bias, need_weights)
        return self.LayerNorm(self.dropout(attended) + hidden), weights


class MPNetLayer(nn.Module):
    def __init__(self, config: MPNetConfig) -> None:
        super().__init__()
        self.attention = MPNetAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertSelfOutput(config, in_features=config.intermediate_size)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attention(hidden, bias, need_weights)
        return self.output(self.intermediate(attended), attended), weights


class MPNetEncoder(nn.Module):
    def __init__(self, config: MPNetConfig) -> None:
        super().__init__()
        self.num_buckets = config.relative_attention_num_buckets
        self.layer = nn.ModuleList([MPNetLayer(config) for _ in range(config.num_hidden_layers)])
        self.relative_attention_bias = nn.Embedding(config.relative_attention_num_buckets, config.num_attention_heads)

    def position_bias(self, seq_len: int, device: torch.device) -> torch.Tensor:
        """(1, heads, seq, seq) bias added to every layer's attention scores."""
        positions = torch.arange(seq_len, device=device)
        buckets = relative_position_bucket(positions[None, :] - positions[:, None], num_buckets=self.num_buckets)
        return self.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)


class MPNetPreTrainedModel(PreTrainedModel):
    config_class = MPNetConfig
    base_model_prefix = "mpnet"


class MPNetModel(MPNetPreTrainedModel):
    """Input ids (batch, seq) -> last_hidden_state (batch, seq, hidden), pooler_output (batch, hidden)."""

    def __init__(self, config: MPNetConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = MPNetEmbeddings(config)
        self.encoder = MPNetEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None,
                **_: Any) -> BaseModelOutputWithPooling:
        """``token_type_ids`` is accepted and ignored: MPNet has no segment embeddings."""
        check_inputs(input_ids, inputs_embeds)
        hidden = self.embeddings(input_ids, inputs_embeds, position_ids)
        bias = self.encoder.position_bias(hidden.shape[1], hidden.device).to(hidden.dtype)
        mask_bias = padding_mask_to_bias(attention_mask, hidden.dtype)
        if mask_bias is not None:
            bias = bias + mask_bias
        out = run_layers(self.encoder.layer, hidden, bias.expand(hidden.shape[0], -1, -1, -1),
                         bool(output_attentions or self.config.output_attentions),
                         bool(output_hidden_states or self.config.output_hidden_states))
        pooled = self.pooler(out.last_hidden_state) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=out.last_hidden_state, pooler_output=pooled,
                                          hidden_states=out.hidden_states, attentions=out.attentions)


class MPNetForMaskedLM(MPNetPreTrainedModel, RobertaLikeMaskedLM):
    body_class = MPNetModel
    tied_weights = {"lm_head.decoder.weight": "mpnet.embeddings.word_embeddings.weight"}
    aliased_weights = {"lm_head.decoder.bias": "lm_head.bias"}


class MPNetForSequenceClassification(MPNetPreTrainedModel, RobertaLikeSequenceClassification):
    body_class = MPNetModel


class MPNetForTokenClassification(MPNetPreTrainedModel, ForTokenClassification):
    body_class = MPNetModel


class MPNetForQuestionAnswering(MPNetPreTrainedModel, ForQuestionAnswering):
    body_class = MPNetModel
