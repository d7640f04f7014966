"""Per-row token choice: the top-p fast path (top candidates) keeps exactly the tokens of the reference's full-sort
rule, the full sort takes over when the candidates do not reach ``top_p``, and seeded draws repeat."""

from __future__ import annotations

import torch

from embrace.generation.logits import TopPLogitsWarper
from embrace.serving import sampling
from embrace.serving.sampling import SamplingParams, choose_tokens


def test_nucleus_candidates_equal_the_full_sort_rule(monkeypatch):
    torch.manual_seed(0)
    peaked = torch.randn(6, 5000) * 4          # the nucleus fits in the top 256 candidates
    flat = torch.randn(2, 5000) * 0.01          # it does not: the full sort decides
    scores = torch.cat([peaked, flat])
    for p in (0.5, 0.9):
        top_p = torch.full((scores.shape[0],), p)
        reference = TopPLogitsWarper(p)(torch.zeros(1, 1, dtype=torch.long), scores).isinf()
        allowed = ~reference
        drawn = set()
        for seed in range(40):
            generators = [torch.Generator().manual_seed(seed) for _ in range(scores.shape[0])]
            tokens = sampling._sample_rows(scores, top_p, generators)
            assert all(bool(allowed[row, token]) for row, token in enumerate(tokens))
            drawn.add(tuple(tokens))
        assert len(drawn) > 1
    # the kept set of the fast path is exactly the reference's
    probs = torch.softmax(peaked, dim=-1)
    top_probs, top_ids = probs.topk(256, dim=-1)
    keep = (top_probs.cumsum(-1) - top_probs) < 0.9
    fast = torch.zeros_like(peaked, dtype=torch.bool).scatter(1, top_ids, keep)
    assert torch.equal(fast, ~TopPLogitsWarper(0.9)(torch.zeros(1, 1, dtype=torch.long), peaked).isinf())


def test_choose_tokens_mixes_greedy_sampled_and_logprobs():
    torch.manual_seed(1)
    logits = torch.randn(3, 100)
    params = [SamplingParams(temperature=0, logprobs=True, top_logprobs=3),
              SamplingParams(temperature=0.8, top_p=0.9, seed=5), SamplingParams(temperature=1.0, seed=5)]
    first = choose_tokens(logits, params, [None, *(p.make_generator() for p in params[1:])])
    again = choose_tokens(logits, params, [None, *(p.make_generator() for p in params[1:])])
    assert [c.token for c in first] == [c.token for c in again]
    assert first[0].token == int(logits[0].argmax())
    assert abs(first[0].logprob - torch.log_softmax(logits[0], -1).max().item()) < 1e-6
    assert [t for t, _ in first[0].top] == logits[0].topk(3).indices.tolist()
    assert first[1].logprob is None and first[2].top == []
