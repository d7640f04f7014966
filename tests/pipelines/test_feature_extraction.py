"""feature-extraction against transformers 5.23's pipeline (tiny BERT and the real all-MiniLM-L6-v2), and
sentence-similarity against mean pooling + cosine computed from the reference model's hidden states."""

from __future__ import annotations

import pytest
import torch
from tests.conftest import asset
from tests.pipelines.conftest import assert_close, ours, reference_pipeline

from embrace.pipelines import PipelineInputError

SENTENCES = ["A cat sits on the mat.", "A dog plays in the park with a red ball.", "Stock markets fell sharply."]


def test_tiny_feature_extraction(tiny_models):
    ref = reference_pipeline("feature-extraction", tiny_models["base"])
    mine = ours("feature-extraction", tiny_models["base"], batch_size=2)
    assert_close(mine(SENTENCES[0]), ref(SENTENCES[0]))
    assert_close(mine(SENTENCES), ref(SENTENCES))
    tensor = mine(SENTENCES[1], return_tensors=True)
    assert isinstance(tensor, torch.Tensor) and tensor.shape[0] == 1 and tensor.shape[2] == 32
    with pytest.raises(PipelineInputError):
        mine(["fine", ""])


@pytest.mark.slow
def test_minilm_feature_extraction_and_similarity():
    from transformers import AutoModel, AutoTokenizer

    path = asset("minilm")
    ref = reference_pipeline("feature-extraction", path)
    mine = ours("feature-extraction", path, batch_size=3)
    assert_close(mine(SENTENCES), ref(SENTENCES))

    similarity = ours("sentence-similarity", path)
    scores = similarity({"source_sentence": SENTENCES[0], "sentences": SENTENCES})
    tokenizer, model = AutoTokenizer.from_pretrained(str(path)), AutoModel.from_pretrained(str(path)).eval()
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    vectors = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)
    expected = (vectors[:1] @ vectors.T)[0].tolist()
    assert_close(scores, expected)
    assert abs(scores[0] - 1.0) < 1e-5
    embedded = similarity.embed(SENTENCES)
    assert embedded.shape == (3, 384) and torch.allclose(embedded, vectors, atol=1e-5)
    with pytest.raises(PipelineInputError):
        similarity({"source_sentence": "x", "sentences": []})
    with pytest.raises(PipelineInputError):
        similarity("just a string")
