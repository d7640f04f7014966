"""DistilBERT: a 6-layer BERT without token types or pooler, with its own module names (``q_lin``, ``ffn.lin1`` ...)
and heads (``vocab_transform``/``vocab_projector``, ``pre_classifier``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from embrace.models.bert import check_inputs, run_layers
from embrace.models.configuration import PretrainedConfig
from embrace.models.encoder_heads import (
    ForMaskedLM,
    ForQuestionAnswering,
    ForSequenceClassification,
    ForTokenClassification,
)
from embrace.models.layers import (
    TokenPositionEmbeddings,
    activation,
    multi_head_self_attention,
    padding_mask_to_bias,
)
from embrace.models.linear import Linear
from embrace.models.modeling import PreTrainedModel
from embrace.models.outputs import BaseModelOutputWithPooling


@dataclass(kw_only=True)
class DistilBertConfig(PretrainedConfig):
    model_type: ClassVar[str] = "distilbert"

    vocab_size: int = 30522
    max_position_embeddings: int = 512
    sinusoidal_pos_embds: bool = False
    n_layers: int = 6
    n_heads: int = 12
    dim: int = 768
    hidden_dim: int = 3072
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation: str = "gelu"
    qa_dropout: float = 0.1
    seq_classif_dropout: float = 0.2
    pad_token_id: int | None = 0

    # the reference's attribute_map: generic code reads these names
    @property
    def hidden_size(self) -> int:
        return self.dim

    @property
    def num_attention_heads(self) -> int:
        return self.n_heads

    @property
    def num_hidden_layers(self) -> int:
        return self.n_layers


class Embeddings(TokenPositionEmbeddings):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config.vocab_size, config.dim, config.max_position_embeddings, eps=1e-12,
                         dropout=config.dropout, word_padding_idx=config.pad_token_id)


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.q_lin = Linear(config.dim, config.dim)
        self.k_lin = Linear(config.dim, config.dim)
        self.v_lin = Linear(config.dim, config.dim)
        self.out_lin = Linear(config.dim, config.dim)
        self.dropout_prob = config.attention_dropout

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        out, weights = multi_head_self_attention(hidden, (self.q_lin, self.k_lin, self.v_lin), self.n_heads, bias,
                                                 dropout=self.dropout_prob if self.training else 0.0,
                                                 need_weights=need_weights)
        return self.out_lin(out), weights


class FFN(nn.Module):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.lin1 = Linear(config.dim, config.hidden_dim)
        self.lin2 = Linear(config.hidden_dim, config.dim)
        self.activation = activation(config.activation)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.lin2(self.activation(self.lin1(hidden))))


class TransformerBlock(nn.Module):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.attention = MultiHeadSelfAttention(config)
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.ffn = FFN(config)
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attention(hidden, bias, need_weights)
        attended = self.sa_layer_norm(attended + hidden)
        return self.output_layer_norm(self.ffn(attended) + attended), weights


class Transformer(nn.Module):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList([TransformerBlock(config) for _ in range(config.n_layers)])


class DistilBertPreTrainedModel(PreTrainedModel):
    config_class = DistilBertConfig
    base_model_prefix = "distilbert"

    def init_weights(self, module: nn.Module) -> None:
        super().init_weights(module)
        if isinstance(module, Embeddings) and self.config.sinusoidal_pos_embds:
            with torch.no_grad():
                module.position_embeddings.weight.copy_(sinusoidal_table(*module.position_embeddings.weight.shape))


def sinusoidal_table(n_positions: int, dim: int) -> torch.Tensor:
    """The fixed sin/cos position table used when ``sinusoidal_pos_embds`` is set: (n_positions, dim)."""
    position = torch.arange(n_positions, dtype=torch.float64).unsqueeze(1)
    div = torch.pow(10000.0, 2 * (torch.arange(dim, dtype=torch.float64) // 2) / dim)
    table = position / div
    out = torch.empty(n_positions, dim, dtype=torch.float64)
    out[:, 0::2] = torch.sin(table[:, 0::2])
    out[:, 1::2] = torch.cos(table[:, 1::2])
    return out.float()


class DistilBertModel(DistilBertPreTrainedModel):
    """Input ids (batch, seq) -> last_hidden_state (batch, seq, dim). No pooler, no token types."""

    def __init__(self, config: DistilBertConfig, add_pooling_layer: bool = False) -> None:
        super().__init__(config)
        self.embeddings = Embeddings(config)
        self.transformer = Transformer(config)
        self.post_init()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None,
                **_: Any) -> BaseModelOutputWithPooling:
        """``token_type_ids`` is accepted and ignored: DistilBERT has no segment embeddings."""
        check_inputs(input_ids, inputs_embeds)
        hidden = self.embeddings(input_ids, inputs_embeds, position_ids)
        bias = padding_mask_to_bias(attention_mask, hidden.dtype)
        out = run_layers(self.transformer.layer, hidden, bias,
                         bool(output_attentions or self.config.output_attentions),
                         bool(output_hidden_states or self.config.output_hidden_states))
        return BaseModelOutputWithPooling(last_hidden_state=out.last_hidden_state, hidden_states=out.hidden_states,
                                          attentions=out.attentions)


class DistilBertForMaskedLM(DistilBertPreTrainedModel, ForMaskedLM):
    body_class = DistilBertModel
    tied_weights = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}

    def build_lm_head(self) -> None:
        config = self.config
        self.vocab_transform = Linear(config.dim, config.dim)
        self.act = activation(config.activation)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.vocab_projector = Linear(config.dim, config.vocab_size)

    def lm_logits(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.vocab_projector(self.vocab_layer_norm(self.act(self.vocab_transform(sequence_output))))


class DistilBertForSequenceClassification(DistilBertPreTrainedModel, ForSequenceClassification):
    body_class = DistilBertModel

    def build_classifier(self) -> None:
        self.pre_classifier = Linear(self.config.dim, self.config.dim)
        self.classifier = Linear(self.config.dim, self.config.num_labels)
        self.dropout = nn.Dropout(self.config.seq_classif_dropout)

    def classify(self, out: BaseModelOutputWithPooling) -> torch.Tensor:
        pooled = torch.relu(self.pre_classifier(out.last_hidden_state[:, 0]))
        return self.classifier(self.dropout(pooled))


class DistilBertForTokenClassification(DistilBertPreTrainedModel, ForTokenClassification):
    body_class = DistilBertModel

    def dropout_prob(self) -> float:
        return self.config.dropout


class DistilBertForQuestionAnswering(DistilBertPreTrainedModel, ForQuestionAnswering):
    body_class = DistilBertModel

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.dropout = nn.Dropout(config.qa_dropout)

    def qa_input(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.dropout(sequence_output)


