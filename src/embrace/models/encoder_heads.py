"""Task heads shared by the encoder families (BERT, RoBERTa, XLM-R, DistilBERT, MPNet).

A family provides its body (``body_class``, stored under ``base_model_prefix`` so checkpoint keys line up) and the
few head modules whose names differ between families (``build_*`` methods); the forward passes and losses live
here once.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from embrace.models.heads import (
    masked_lm_loss,
    question_answering_loss,
    sequence_classification_loss,
    token_classification_loss,
)
from embrace.models.linear import Linear
from embrace.models.modeling import PreTrainedModel
from embrace.models.outputs import (
    BaseModelOutputWithPooling,
    MaskedLMOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
)


class EncoderBody(nn.Module):
    """Protocol of an encoder body: token ids (batch, seq) in, ``BaseModelOutputWithPooling`` out."""

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> BaseModelOutputWithPooling:
        raise NotImplementedError


class EncoderHeadModel(PreTrainedModel):
    """A body plus a task head. ``add_pooling_layer`` says whether the body keeps its pooler for this head."""

    body_class: ClassVar[type[nn.Module]]
    add_pooling_layer: ClassVar[bool] = False
    config: Any  # the family's config dataclass

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        setattr(self, self.base_model_prefix, self.body_class(config, add_pooling_layer=self.add_pooling_layer))

    @property
    def body(self) -> nn.Module:
        return getattr(self, self.base_model_prefix)

    def dropout_prob(self) -> float:
        config = self.config
        value = getattr(config, "classifier_dropout", None)
        return float(value if value is not None else getattr(config, "hidden_dropout_prob", 0.1))

    def run_body(self, **inputs: Any) -> BaseModelOutputWithPooling:
        return self.body(**inputs)


class ForMaskedLM(EncoderHeadModel):
    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.build_lm_head()
        self.post_init()

    def build_lm_head(self) -> None:
        raise NotImplementedError

    def lm_logits(self, sequence_output: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None) -> MaskedLMOutput:
        """``labels``: (batch, seq) token ids, -100 where no loss. Returns logits (batch, seq, vocab)."""
        out = self.run_body(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            position_ids=position_ids, inputs_embeds=inputs_embeds,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.lm_logits(out.last_hidden_state)
        loss = masked_lm_loss(logits, labels) if labels is not None else None
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class ForSequenceClassification(EncoderHeadModel):
    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.build_classifier()
        self.post_init()

    def build_classifier(self) -> None:
        """Default (BERT): dropout + linear on the pooled output."""
        self.dropout = nn.Dropout(self.dropout_prob())
        self.classifier: nn.Module = Linear(self.config.hidden_size, self.config.num_labels)

    def classify(self, out: BaseModelOutputWithPooling) -> torch.Tensor:
        assert out.pooler_output is not None
        return self.classifier(self.dropout(out.pooler_output))

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None) -> SequenceClassifierOutput:
        """``labels``: (batch,) class ids, or (batch, num_labels) floats for regression/multi-label.
        Returns logits (batch, num_labels)."""
        out = self.run_body(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            position_ids=position_ids, inputs_embeds=inputs_embeds,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classify(out)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                        attentions=out.attentions)


class ForTokenClassification(EncoderHeadModel):
    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.dropout = nn.Dropout(self.dropout_prob())
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None) -> SequenceClassifierOutput:
        """``labels``: (batch, seq) label ids, -100 where ignored. Returns logits (batch, seq, num_labels)."""
        out = self.run_body(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            position_ids=position_ids, inputs_embeds=inputs_embeds,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        loss = token_classification_loss(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                        attentions=out.attentions)


class ForQuestionAnswering(EncoderHeadModel):
    def __init__(self, config: Any) -> None:
        super().__init__(config)
        # the reference sizes this layer by num_labels (2 for any real QA checkpoint) and reads the first two
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def qa_input(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return sequence_output

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, start_positions: torch.Tensor | None = None,
                end_positions: torch.Tensor | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None
                ) -> QuestionAnsweringModelOutput:
        """Returns start_logits and end_logits, each (batch, seq); loss when both positions (batch,) are given."""
        out = self.run_body(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            position_ids=position_ids, inputs_embeds=inputs_embeds,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.qa_outputs(self.qa_input(out.last_hidden_state))
        if logits.shape[-1] != 2:
            raise ValueError(f"a question-answering head needs num_labels=2 (start, end), got {logits.shape[-1]}")
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in logits.split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        return QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                            hidden_states=out.hidden_states, attentions=out.attentions)
