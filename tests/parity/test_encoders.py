"""Every encoder family x every head against the reference transformers (tiny random configs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.parity.harness import HEAD_OUTPUTS, check_parity

transformers = pytest.importorskip("transformers")

SMALL = {"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
         "intermediate_size": 37, "max_position_embeddings": 64}


def _config(family: str, num_labels: int) -> tuple[object, bool]:
    if family == "bert":
        return transformers.BertConfig(**SMALL, num_labels=num_labels), True
    if family == "roberta":
        return transformers.RobertaConfig(**SMALL, num_labels=num_labels, type_vocab_size=2), True
    if family == "xlm-roberta":
        return transformers.XLMRobertaConfig(**SMALL, num_labels=num_labels), False
    if family == "distilbert":
        return transformers.DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                             max_position_embeddings=64, num_labels=num_labels), False
    if family == "mpnet":
        return transformers.MPNetConfig(**SMALL, num_labels=num_labels), False
    raise AssertionError(family)


FAMILIES = ["bert", "roberta", "xlm-roberta", "distilbert", "mpnet"]


@pytest.mark.parametrize("head", list(HEAD_OUTPUTS))
@pytest.mark.parametrize("family", FAMILIES)
def test_family_head_parity(family: str, head: str, tmp_path: Path) -> None:
    config, token_types = _config(family, num_labels=2 if head == "question-answering" else 3)
    check_parity(config, head, tmp_path, with_token_types=token_types)


@pytest.mark.parametrize("problem_type", ["regression", "multi_label_classification"])
def test_sequence_classification_problem_types(problem_type: str, tmp_path: Path) -> None:
    import torch

    import embrace

    num_labels = 1 if problem_type == "regression" else 3
    config = transformers.BertConfig(**SMALL, num_labels=num_labels, problem_type=problem_type)
    torch.manual_seed(0)
    ref = transformers.AutoModelForSequenceClassification.from_config(config).eval()
    ref.save_pretrained(tmp_path)
    ours = embrace.AutoModelForSequenceClassification.from_pretrained(tmp_path)
    ids = torch.randint(3, 99, (4, 6))
    labels = torch.rand(4, num_labels) if num_labels > 1 else torch.rand(4)
    if problem_type == "multi_label_classification":
        labels = (labels > 0.5).float()
    with torch.no_grad():
        a = ref(input_ids=ids, labels=labels)
        b = ours(input_ids=ids, labels=labels)
    assert torch.allclose(a.loss, b.loss, atol=1e-5)
    assert torch.allclose(a.logits, b.logits, atol=1e-5)
