"""SlotKVCache: sequences of different lengths that join at different steps, are prefilled right-padded together,
decode in one batch with per-row positions and masks, and leave (rows move) give the same next-token logits as
each sequence run alone without a cache (1e-4), for a rotary model (Llama) and a learned-position one (GPT-2)."""

from __future__ import annotations

import pytest
import torch

from embrace.serving.slot_cache import SlotCacheError, SlotKVCache


def tiny_model(kind: str, folder) -> torch.nn.Module:
    import transformers

    from embrace.models.auto import AutoModelForCausalLM

    torch.manual_seed(0)
    if kind == "llama":
        config = transformers.LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
        transformers.LlamaForCausalLM(config).save_pretrained(folder)
    else:
        config = transformers.GPT2Config(vocab_size=300, n_embd=32, n_layer=2, n_head=4, n_positions=128)
        transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    return AutoModelForCausalLM.from_pretrained(str(folder)).eval()


class Runner:
    """Drives a model over a SlotKVCache the way the engine does; tracks each live row's full token list."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.cache = SlotKVCache(max_rows=4, max_length=64, row_step=2, length_step=8)
        self.rows: list[list[int]] = []

    def join(self, prompts: list[list[int]]) -> torch.Tensor:
        start = self.cache.rows_in_use
        for _ in prompts:
            self.cache.allocate_row()
        lengths = [len(p) for p in prompts]
        longest = max(lengths)
        ids = torch.tensor([p + [0] * (longest - len(p)) for p in prompts])
        mask = (torch.arange(longest)[None] < torch.tensor(lengths)[:, None]).long()
        self.cache.begin_step(start, start + len(prompts), longest)
        body = getattr(self.model, self.model.base_model_prefix)
        hidden = body(input_ids=ids, attention_mask=mask, position_ids=torch.arange(longest)[None].expand(len(prompts), -1),
                      past_key_values=self.cache, use_cache=True).last_hidden_state
        for i, length in enumerate(lengths):
            self.cache.set_length(start + i, length)
        self.rows += [list(p) for p in prompts]
        return self.model.get_output_embeddings()(hidden[torch.arange(len(prompts)), torch.tensor(lengths) - 1])

    def decode(self, tokens: list[int]) -> torch.Tensor:
        positions = torch.tensor(self.cache.lengths)[:, None]
        self.cache.begin_step(0, len(self.rows), 1)
        out = self.model(input_ids=torch.tensor(tokens)[:, None], attention_mask=self.cache.attention_mask(),
                         position_ids=positions, past_key_values=self.cache, use_cache=True, logits_to_keep=1)
        for row, token in enumerate(tokens):
            self.cache.set_length(row, self.cache.lengths[row] + 1)
            self.rows[row].append(token)
        return out.logits[:, -1]

    def leave(self, row: int) -> None:
        moved = self.cache.free_row(row)
        last = self.rows.pop()
        if moved is not None:
            self.rows[row] = last

    def alone(self, tokens: list[int]) -> torch.Tensor:
        return self.model(input_ids=torch.tensor([tokens])).logits[0, -1]


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_ragged_batch_matches_each_sequence_alone(kind, tmp_path):
    model = tiny_model(kind, tmp_path)
    run = Runner(model)
    with torch.no_grad():
        def check(logits: torch.Tensor) -> None:
            for row, tokens in enumerate(run.rows):
                torch.testing.assert_close(logits[row], run.alone(tokens), atol=1e-4, rtol=1e-4)

        first = run.join([[5, 6, 7, 8, 9]])
        torch.testing.assert_close(first[0], run.alone(run.rows[0]), atol=1e-4, rtol=1e-4)
        check(run.decode([11]))
        check(run.decode([12]))
        joined = run.join([[20, 21, 22], [30, 31, 32, 33, 34, 35, 36, 37]])   # right-padded prefill, rows 1-2
        for i, row in enumerate((1, 2)):
            torch.testing.assert_close(joined[i], run.alone(run.rows[row]), atol=1e-4, rtol=1e-4)
        for step in range(4):
            check(run.decode([40 + step, 50 + step, 60 + step]))
        run.leave(0)                       # row 2 moves into row 0
        check(run.decode([70, 71]))
        run.join([[80, 81]])
        check(run.decode([90, 91, 92]))
        for row in (2, 1, 0):
            run.leave(row)
    assert run.cache.rows_in_use == 0 and run.cache.allocated_bytes() == 0


def test_limits_are_typed_errors():
    cache = SlotKVCache(max_rows=1, max_length=4)
    cache.allocate_row()
    with pytest.raises(SlotCacheError, match="all 1 KV slots"):
        cache.allocate_row()
    with pytest.raises(SlotCacheError, match="at most 4"):
        cache.begin_step(0, 1, 5)
    with pytest.raises(SlotCacheError, match="not in use"):
        cache.free_row(3)
    with pytest.raises(SlotCacheError, match="reorder"):
        cache.reorder(torch.tensor([0]))
