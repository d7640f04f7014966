"""``perplexity`` of texts under a causal LM, computed as evaluate's ``perplexity`` does: texts tokenized without
special tokens (padded per batch, optionally truncated to ``max_length``), a BOS token prepended
(``add_start_token``), and ``exp`` of the mean token cross-entropy over the real (unpadded) tokens of each text.

``metrics.load("perplexity").compute(predictions=texts, model_id="./smollm2")`` (a folder or repo id), or pass
``model=`` and ``tokenizer=`` objects already loaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embrace.metrics.classification import MetricInputError


def perplexity(predictions: Any, references: Any = None, model_id: str | None = None, batch_size: int = 16,
               add_start_token: bool = True, device: str | None = None, max_length: int | None = None,
               model: Any = None, tokenizer: Any = None, **_: Any) -> dict[str, Any]:
    import torch

    texts = [str(p) for p in predictions]
    if not texts:
        raise MetricInputError("no texts to score: pass predictions=[...]")
    if model is None or tokenizer is None:
        if model_id is None:
            raise MetricInputError("perplexity needs model_id= (a causal LM folder or repo id), or model= and tokenizer=")
        from embrace.models.auto import AutoModelForCausalLM
        from embrace.tokenization import AutoTokenizer

        model = model if model is not None else AutoModelForCausalLM.from_pretrained(model_id)
        tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(model_id)
    target = torch.device(device or "cpu")
    model = model.to(target).eval()
    if tokenizer.pad_token is None and batch_size > 1:  # as evaluate: pad with the first special token
        specials = list(tokenizer.all_special_tokens)
        if not specials:
            raise MetricInputError("the tokenizer has no pad or special token to pad batches with; use batch_size=1")
        tokenizer.add_special_tokens({"pad_token": specials[0]})
    if add_start_token and tokenizer.bos_token_id is None:
        raise MetricInputError("add_start_token=True needs a tokenizer with a bos_token; pass add_start_token=False")
    limit = max_length - 1 if add_start_token and max_length else max_length
    encodings = tokenizer(texts, add_special_tokens=False, padding=True, truncation=bool(limit), max_length=limit,
                          return_tensors="pt", return_attention_mask=True)
    ids, masks = encodings["input_ids"], encodings["attention_mask"]
    if int(masks.sum(1).min()) < (1 if add_start_token else 2):
        raise MetricInputError("every text needs at least one token (two without add_start_token) to be scored")
    scores: list[float] = []
    loss = torch.nn.CrossEntropyLoss(reduction="none")
    for start in range(0, len(texts), batch_size):
        batch, mask = ids[start:start + batch_size].to(target), masks[start:start + batch_size].to(target)
        if add_start_token:
            bos = torch.full((batch.shape[0], 1), tokenizer.bos_token_id, dtype=batch.dtype, device=target)
            batch, mask = torch.cat([bos, batch], dim=1), torch.cat([torch.ones_like(bos), mask], dim=1)
        with torch.no_grad():
            logits = model(batch, attention_mask=mask).logits
        shifted_mask = mask[..., 1:]
        token_losses = loss(logits[..., :-1, :].transpose(1, 2), batch[..., 1:]) * shifted_mask
        scores += torch.exp(token_losses.sum(1) / shifted_mask.sum(1)).tolist()
    return {"perplexities": scores, "mean_perplexity": float(np.mean(scores))}
