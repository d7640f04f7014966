"""``perplexity`` equals evaluate's perplexity algorithm (below, run with transformers' model and tokenizer) on a
tiny random Llama with the MiniLM tokenizer: batched with padding, with and without a start token, truncated."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from tests.conftest import asset

from embrace import metrics
from embrace.metrics import MetricInputError

TEXTS = ["The quick brown fox jumps over the lazy dog.", "Hello world", "Perplexity of short and longer texts, "
         "padded together in one batch, must not depend on the padding.", "a"]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("ppl_llama")
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                                 pad_token_id=0, bos_token_id=101, eos_token_id=102)).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(asset("minilm") / name, folder / name)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["bos_token"] = "[CLS]"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def evaluate_perplexity(texts, folder, batch_size, add_start_token, max_length):
    """evaluate's perplexity._compute, with transformers."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    max_tokenized_len = max_length - 1 if add_start_token and max_length else max_length
    encodings = tokenizer(texts, add_special_tokens=False, padding=True, truncation=bool(max_tokenized_len),
                          max_length=max_tokenized_len, return_tensors="pt", return_attention_mask=True)
    encoded_texts, attn_masks = encodings["input_ids"], encodings["attention_mask"]
    ppls = []
    loss_fct = torch.nn.CrossEntropyLoss(reduction="none")
    for start_index in range(0, len(encoded_texts), batch_size):
        encoded_batch = encoded_texts[start_index:start_index + batch_size]
        attn_mask = attn_masks[start_index:start_index + batch_size]
        if add_start_token:
            bos_tokens_tensor = torch.tensor([[tokenizer.bos_token_id]] * encoded_batch.size(dim=0))
            encoded_batch = torch.cat([bos_tokens_tensor, encoded_batch], dim=1)
            attn_mask = torch.cat([torch.ones(bos_tokens_tensor.size(), dtype=torch.int64), attn_mask], dim=1)
        labels = encoded_batch
        with torch.no_grad():
            out_logits = model(encoded_batch, attention_mask=attn_mask).logits
        shift_logits = out_logits[..., :-1, :].contiguous()
        shift_labels = labels[..., 1:].contiguous()
        shift_attention_mask_batch = attn_mask[..., 1:].contiguous()
        perplexity_batch = torch.exp((loss_fct(shift_logits.transpose(1, 2), shift_labels)
                                      * shift_attention_mask_batch).sum(1) / shift_attention_mask_batch.sum(1))
        ppls += perplexity_batch.tolist()
    return {"perplexities": ppls, "mean_perplexity": np.mean(ppls)}


@pytest.mark.parametrize(("batch_size", "add_start_token", "max_length"), [(16, True, None), (2, True, 6),
                                                                           (3, False, None)])
def test_perplexity_matches_evaluate(tiny_llama, batch_size, add_start_token, max_length):
    texts = TEXTS if add_start_token else TEXTS[:3]
    got = metrics.load("perplexity").compute(predictions=texts, model_id=str(tiny_llama), batch_size=batch_size,
                                             add_start_token=add_start_token, max_length=max_length)
    expected = evaluate_perplexity(texts, tiny_llama, batch_size, add_start_token, max_length)
    np.testing.assert_allclose(got["perplexities"], expected["perplexities"], rtol=1e-4)
    assert got["mean_perplexity"] == pytest.approx(expected["mean_perplexity"], rel=1e-4)


def test_perplexity_errors(tiny_llama):
    with pytest.raises(MetricInputError, match="model_id"):
        metrics.load("perplexity").compute(predictions=["x"])
    with pytest.raises(MetricInputError, match="two without add_start_token"):
        metrics.load("perplexity").compute(predictions=["a"], model_id=str(tiny_llama), add_start_token=False)
