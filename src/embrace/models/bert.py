"""BERT (and MiniLM, which is BERT-shaped): config, body and task heads.

Module names follow the HF checkpoint keys (``embeddings.word_embeddings``, ``encoder.layer.N.attention.self.query``,
``cls.predictions.transform.dense`` ...) so state dicts load one-to-one and PEFT adapters find their targets.
RoBERTa/XLM-R reuse these blocks (roberta.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from embrace.models.configuration import PretrainedConfig
from embrace.models.encoder_heads import (
    ForMaskedLM,
    ForQuestionAnswering,
    ForSequenceClassification,
    ForTokenClassification,
)
from embrace.models.layers import activation, multi_head_self_attention, padding_mask_to_bias
from embrace.models.linear import Linear
from embrace.models.loading import RenameRule
from embrace.models.modeling import PreTrainedModel
from embrace.models.outputs import BaseModelOutput, BaseModelOutputWithPooling


@dataclass(kw_only=True)
class BertConfig(PretrainedConfig):
    model_type: ClassVar[str] = "bert"

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    classifier_dropout: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads ({self.num_attention_heads})"
            )


# TF-era checkpoints name LayerNorm parameters gamma/beta; we read them and always write weight/bias.
LEGACY_LAYER_NORM_RULES = (
    RenameRule("{p}LayerNorm.gamma", "{p}LayerNorm.weight", load_only=True),
    RenameRule("{p}LayerNorm.beta", "{p}LayerNorm.bias", load_only=True),
)


class BertEmbeddings(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def make_position_ids(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device).unsqueeze(0)

    def forward(self, input_ids: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Token ids (batch, seq) or embeddings (batch, seq, hidden) -> (batch, seq, hidden)."""
        if inputs_embeds is None:
            assert input_ids is not None
            inputs_embeds = self.word_embeddings(input_ids)
        if position_ids is None:
            position_ids = self.make_position_ids(input_ids, inputs_embeds)
        if token_type_ids is None:
            token_type_ids = torch.zeros(inputs_embeds.shape[:2], dtype=torch.long, device=inputs_embeds.device)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids) + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class BertSelfAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.query = Linear(config.hidden_size, config.hidden_size)
        self.key = Linear(config.hidden_size, config.hidden_size)
        self.value = Linear(config.hidden_size, config.hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return multi_head_self_attention(hidden, (self.query, self.key, self.value), self.num_heads, bias,
                                         dropout=self.dropout_prob if self.training else 0.0, need_weights=need_weights)


class BertSelfOutput(nn.Module):
    """dense -> dropout -> residual add -> LayerNorm (also BERT's feed-forward output, ``BertOutput``)."""

    def __init__(self, config: BertConfig, in_features: int | None = None) -> None:
        super().__init__()
        self.dense = Linear(in_features or config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.self(hidden, bias, need_weights)
        return self.output(attended, hidden), weights


class BertIntermediate(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.intermediate_size)
        self.act = activation(config.hidden_act)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(hidden))


class BertLayer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertSelfOutput(config, in_features=config.intermediate_size)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attention(hidden, bias, need_weights)
        return self.output(self.intermediate(attended), attended), weights


def run_layers(layers: nn.ModuleList, hidden: torch.Tensor, bias: torch.Tensor | None, output_attentions: bool,
               output_hidden_states: bool) -> BaseModelOutput:
    """Apply encoder layers in turn, collecting hidden states (embeddings first) and attention weights on request."""
    all_hidden: list[torch.Tensor] = []
    all_weights: list[torch.Tensor] = []
    for layer in layers:
        if output_hidden_states:
            all_hidden.append(hidden)
        hidden, weights = layer(hidden, bias, output_attentions)
        if output_attentions and weights is not None:
            all_weights.append(weights)
    if output_hidden_states:
        all_hidden.append(hidden)
    return BaseModelOutput(last_hidden_state=hidden, hidden_states=tuple(all_hidden) if output_hidden_states else None,
                           attentions=tuple(all_weights) if output_attentions else None)


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BaseModelOutput:
        return run_layers(self.layer, hidden, bias, output_attentions, output_hidden_states)


class BertPooler(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))


class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    rename_rules = LEGACY_LAYER_NORM_RULES


class BertModel(BertPreTrainedModel):
    """The BERT body. Input ids (batch, seq) -> last_hidden_state (batch, seq, hidden), pooler_output (batch, hidden)."""

    embeddings_class: ClassVar[type[nn.Module]] = BertEmbeddings

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = self.embeddings_class(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None,
                **_: Any) -> BaseModelOutputWithPooling:
        check_inputs(input_ids, inputs_embeds)
        hidden = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                                 inputs_embeds=inputs_embeds)
        bias = padding_mask_to_bias(attention_mask, hidden.dtype)
        out = self.encoder(hidden, bias, bool(output_attentions or self.config.output_attentions),
                           bool(output_hidden_states or self.config.output_hidden_states))
        pooled = self.pooler(out.last_hidden_state) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=out.last_hidden_state, pooler_output=pooled,
                                          hidden_states=out.hidden_states, attentions=out.attentions)


def check_inputs(input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None) -> None:
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids (batch, seq) or inputs_embeds (batch, seq, hidden)")
    if input_ids is not None and input_ids.dim() != 2:
        raise ValueError(f"input_ids must have shape (batch, seq_len), got {tuple(input_ids.shape)}; "
                         "add a batch dimension with input_ids.unsqueeze(0)")


class BertLMPredictionHead(nn.Module):
    """``cls.predictions``: transform (dense, act, LayerNorm) -> decoder over the vocabulary (+ shared bias)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden))


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.act = activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.act(self.dense(hidden)))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(config)


class BertForMaskedLM(BertPreTrainedModel, ForMaskedLM):
    body_class = BertModel
    tied_weights = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight"}
    aliased_weights = {"cls.predictions.decoder.bias": "cls.predictions.bias"}

    def build_lm_head(self) -> None:
        self.cls = BertOnlyMLMHead(self.config)

    def lm_logits(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.cls.predictions(sequence_output)


class BertForSequenceClassification(BertPreTrainedModel, ForSequenceClassification):
    body_class = BertModel
    add_pooling_layer = True


class BertForTokenClassification(BertPreTrainedModel, ForTokenClassification):
    body_class = BertModel


class BertForQuestionAnswering(BertPreTrainedModel, ForQuestionAnswering):
    body_class = BertModel
