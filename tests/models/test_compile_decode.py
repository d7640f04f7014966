"""``model.compile_decode()``: the one-token decode step goes through torch.compile as one graph (fullgraph, no
breaks) and generation stays token-identical. The eager backend keeps the test fast; the benchmark
(``bench/bench_generation.py --cases compile``) runs inductor."""

from __future__ import annotations

from pathlib import Path

import torch._dynamo
import transformers

from embrace.models.auto import AutoModelForCausalLM

from .causal_parity import VOCAB, padded_batch, save_reference


def test_compiled_decode_step_is_one_graph_and_token_identical(tmp_path: Path) -> None:
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64,
                                      pad_token_id=0, bos_token_id=1, eos_token_id=2)
    save_reference(config, tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids, mask = padded_batch(length=8)
    expected = model.generate(ids, attention_mask=mask, max_new_tokens=12, min_new_tokens=12)
    torch._dynamo.reset()
    frames_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    model.compile_decode(backend="eager", fullgraph=True)  # fullgraph: a graph break would raise
    try:
        for _ in range(2):  # the second call reuses the graph (dynamic cache length, fresh cache object)
            assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=12, min_new_tokens=12),
                               expected)
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - frames_before <= 2
        with torch.no_grad():  # prompt forwards stay eager and equal
            assert torch.equal(model(ids, attention_mask=mask).logits,
                               model.uncompile_decode()(ids, attention_mask=mask).logits)
    finally:
        model.uncompile_decode()
        torch._dynamo.reset()
    assert "forward" not in vars(model)
