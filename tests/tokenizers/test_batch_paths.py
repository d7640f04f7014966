"""The batch encode paths: numpy BPE merges of many new words, bulk word entries, texts assembled together with the
post-processor's frame, chunking, the paused GC, and the per-word caches after the vocabulary changes."""

from __future__ import annotations

import functools
import gc
import random

import pytest
from _pipeline_helpers import TRICKY, assert_same, gpt2_files, read_texts
from tests.conftest import asset

tokenizers = pytest.importorskip("tokenizers")

from embrace.tokenizers import Tokenizer, word_cache  # noqa: E402
from embrace.tokenizers.models import BATCH_MIN  # noqa: E402
from embrace.tokenizers.pre_tokenizers import byte_level_str  # noqa: E402


def _gpt2(processor: str = "bytelevel", add_prefix_space: bool = False):  # type: ignore[no-untyped-def]
    t = tokenizers
    vocab, merges = gpt2_files()
    ref = t.Tokenizer(t.models.BPE(vocab, merges))
    ref.pre_tokenizer = t.pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    ref.decoder = t.decoders.ByteLevel()
    if processor == "bytelevel":
        ref.post_processor = t.processors.ByteLevel(trim_offsets=True)
    elif processor == "template":
        ref.post_processor = t.processors.TemplateProcessing(
            single="<|endoftext|> $A:1 <|endoftext|>:2", pair="$A $B:1", special_tokens=[("<|endoftext|>", 50256)])
    elif processor == "sequence":
        ref.post_processor = t.processors.Sequence([
            t.processors.ByteLevel(trim_offsets=True),
            t.processors.TemplateProcessing(single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", 50256)])])
    ref.add_special_tokens(["<|endoftext|>"])
    return ref, Tokenizer.from_str(ref.to_str())


@functools.cache
def _corpus() -> tuple[str, ...]:
    rng = random.Random(3)
    words = ["the", " nation", "état", "😀", "  ", "\n", "1999", "don't", "ab" * 30, "-" * 70, "日本語", "x"]
    randoms = ["".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(200)]
    return (*TRICKY, *randoms, *read_texts("sotu", 60), *read_texts("tweets_csv", 150))


def _texts() -> list[str]:
    return list(_corpus())


def _assert_batch_same(ref, ours, texts: list[str]) -> None:  # type: ignore[no-untyped-def]
    for text, a, b in zip(texts, ref.encode_batch(texts), ours.encode_batch(texts)):
        assert_same(a, b, text)


def test_numpy_merges_equal_word_by_word_merges() -> None:
    _ref, ours = _gpt2()
    model = ours.model
    words = sorted({w for t in _texts() for w in ours.pre_tokenizer.find_words(t)})
    assert len(words) > 1000
    expected = [model.word_ids(byte_level_str(w)) for w in words]
    assert model.word_ids_many(words, raw_bytes=True) == expected
    assert model.word_ids_many([byte_level_str(w) for w in words]) == expected


def test_numpy_merges_leave_words_with_unknown_characters_to_the_python_path() -> None:
    t = tokenizers
    trainer = t.trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>"], show_progress=False)
    ref = t.Tokenizer(t.models.BPE(unk_token="<unk>"))
    ref.pre_tokenizer = t.pre_tokenizers.Whitespace()
    ref.train_from_iterator(read_texts("sotu", 50), trainer)  # no CJK or emoji in the alphabet
    ours = Tokenizer.from_str(ref.to_str())
    words = sorted({w for text in _texts() for w in ours.pre_tokenizer.find_words(text)})
    assert ours.model.word_ids_many(words) == [ours.model.word_ids(w) for w in words]
    for _ in range(2):
        _assert_batch_same(ref, ours, _texts())
        assert ours.encode_batch_ids(_texts()) == [e.ids for e in ref.encode_batch(_texts())]


@pytest.mark.parametrize("processor", ["bytelevel", "template", "sequence", "none"])
@pytest.mark.parametrize("add_special_tokens", [True, False])
def test_framed_batches_match_the_reference(processor: str, add_special_tokens: bool) -> None:
    ref, ours = _gpt2(processor, add_prefix_space=processor == "sequence")
    texts = _texts()
    for _ in range(2):  # cold, then warm caches
        pairs = zip(texts, ref.encode_batch(texts, add_special_tokens=add_special_tokens),
                    ours.encode_batch(texts, add_special_tokens=add_special_tokens))
        for text, a, b in pairs:
            assert_same(a, b, text)


def test_minilm_batches_with_truncation_padding_and_pairs() -> None:
    ref = tokenizers.Tokenizer.from_file(str(asset("minilm") / "tokenizer.json"))
    ours = Tokenizer.from_file(str(asset("minilm") / "tokenizer.json"))
    texts = _texts()
    _assert_batch_same(ref, ours, texts)  # fixed padding to 128 and truncation from the file
    for t in (ref, ours):
        t.enable_truncation(24, stride=5)
        t.no_padding()
    _assert_batch_same(ref, ours, texts)
    mixed = [*texts[:100], *zip(texts[100:150], texts[150:200])]
    _assert_batch_same(ref, ours, mixed)  # type: ignore[arg-type]


def test_chunked_batches_equal_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    ref, ours = _gpt2()
    texts = _texts()
    monkeypatch.setattr(word_cache, "CHUNK_CHARS", 500)
    chunks = list(word_cache.chunks(texts, 500))
    assert len(chunks) > 10 and [t for c in chunks for t in c] == texts
    _assert_batch_same(ref, ours, texts)
    assert ours.encode_batch_ids(texts) == [e.ids for e in ref.encode_batch(texts)]


def test_any_iterable_of_texts_is_a_batch() -> None:
    _ref, ours = _gpt2()
    texts = _texts()[:50]
    assert [e.ids for e in ours.encode_batch(iter(texts))] == ours.encode_batch_ids(t for t in texts)
    assert ours.encode_batch_ids(texts) == [e.ids for e in ours.encode_batch(texts)]


def test_caches_after_adding_tokens() -> None:
    ref, ours = _gpt2()
    texts = _texts()
    ours.encode_batch(texts)
    ours.encode_batch_ids(texts)  # every cache is warm
    for t in (ref, ours):
        t.add_tokens(["nation", " the"])
        t.add_special_tokens(["[NEW]"])
    texts = [*texts, "the nation[NEW] of nations", "[NEW]"]
    _assert_batch_same(ref, ours, texts)
    assert ours.encode_batch_ids(texts) == [e.ids for e in ref.encode_batch(texts)]


def test_prefill_skips_small_batches_and_a_full_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def upper_many(words: list[str]) -> list[str]:
        calls.append(len(words))
        return [w.upper() for w in words]

    cache = word_cache.WordCache(str.upper, upper_many)
    cache.prefill(f"w{i}" for i in range(BATCH_MIN - 1))
    assert not cache and not calls
    cache.prefill([f"w{i}" for i in range(200)] * 2)
    assert calls == [200] and cache["w7"] == "W7" and len(cache) == 200
    monkeypatch.setattr("embrace.tokenizers.models.CACHE_LIMIT", 200 + BATCH_MIN + 5)
    cache.prefill(f"x{i}" for i in range(500))
    assert calls[-1] == BATCH_MIN + 5 and len(cache) == 200 + BATCH_MIN + 5
    assert cache["x499"] == "X499"  # filled on lookup


def test_gc_is_paused_during_a_batch_and_restored() -> None:
    _ref, ours = _gpt2()
    seen: list[bool] = []
    fill = ours.model.word_ids

    def word_ids(word: str) -> list[int]:
        seen.append(gc.isenabled())
        return fill(word)

    ours.model.word_ids = word_ids  # type: ignore[method-assign]
    assert gc.isenabled()
    ours.encode_batch(["a few words"])
    assert seen and not any(seen) and gc.isenabled()
    gc.disable()
    try:
        ours.encode_batch_ids(["more words here"])
        assert not gc.isenabled()  # a collector the caller disabled stays disabled
    finally:
        gc.enable()
