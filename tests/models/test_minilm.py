"""Real weights: all-MiniLM-L6-v2 from the offline package gives the reference's hidden states and embeddings."""

from __future__ import annotations

import pytest
import torch
from tests.conftest import asset

transformers = pytest.importorskip("transformers")

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street corner.",
    "Machine learning models need data, compute and patience.",
    "embrace loads Hugging Face checkpoints without the Hugging Face libraries.",
    "Le chat est assis sur le tapis.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "El rápido zorro marrón salta sobre el perro perezoso.",
    "Il gatto dorme sul divano tutto il giorno.",
    "O rato roeu a roupa do rei de Roma.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "素早い茶色の狐がのろまな犬を飛び越える。",
    "빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
    "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
    "Γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο.",
    "Emoji test 🚀🔥 with symbols ©®™ and accents: café naïve façade.",
    "",
    "a",
    "Numbers 3.14159, dates 2026-11-23 and URLs https://example.com/path?q=1.",
    "UPPER CASE and lower case and MiXeD cAsE.",
    "Tabs\tand\nnewlines  and   multiple spaces.",
    "Short.",
    "A much longer sentence that goes on and on, describing in great detail the many different aspects of "
    "the situation, the people involved, the weather on that particular day, and what everyone had for lunch.",
] * 2


@pytest.mark.slow
def test_minilm_hidden_states_and_sentence_embeddings_match_reference() -> None:
    import embrace
    from embrace.embeddings import PoolingSpec, SentenceEmbedder, pool

    folder = asset("minilm")
    ref_tok = transformers.AutoTokenizer.from_pretrained(folder)
    ref = transformers.AutoModel.from_pretrained(folder).eval()
    ours = embrace.AutoModel.from_pretrained(folder)
    inputs = ref_tok(SENTENCES, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        expected = ref(**inputs).last_hidden_state
        got = ours(**inputs).last_hidden_state
    valid = inputs["attention_mask"].bool()
    assert (expected[valid] - got[valid]).abs().max().item() < 1e-4

    # sentence-transformers recipe on the reference output: mean pooling over real tokens, then L2 normalise
    mask = inputs["attention_mask"].unsqueeze(-1).float()
    ref_vectors = torch.nn.functional.normalize((expected * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=1)
    spec = PoolingSpec.from_model_dir(lambda name: folder / name if (folder / name).exists() else None)
    assert spec.mode == "mean" and spec.normalize and spec.max_seq_length == 256
    vectors = SentenceEmbedder(ours, tokenizer=None, spec=spec).embed_inputs(dict(inputs))
    assert (vectors - ref_vectors).abs().max().item() < 1e-5
    assert torch.allclose(pool(got, inputs["attention_mask"]), (got * mask).sum(1) / mask.sum(1))
