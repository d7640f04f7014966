"""Parity of the tokenizer pipeline with the reference ``tokenizers`` library on real tokenizer.json files."""

from __future__ import annotations

import json

import pytest
from _pipeline_helpers import TRICKY, assert_same, gpt2_files, read_texts, whole_speech
from tests.conftest import asset

tokenizers = pytest.importorskip("tokenizers")

from embrace.tokenizers import Tokenizer  # noqa: E402


def _pair(path_or_json: str, from_str: bool = False):  # type: ignore[no-untyped-def]
    ref = tokenizers.Tokenizer.from_str(path_or_json) if from_str else tokenizers.Tokenizer.from_file(path_or_json)
    ours = Tokenizer.from_str(path_or_json) if from_str else Tokenizer.from_file(path_or_json)
    return ref, ours


def _check_texts(ref, ours, texts: list[str], pairs: bool = False) -> None:  # type: ignore[no-untyped-def]
    for text in texts:
        assert_same(ref.encode(text), ours.encode(text), text)
    ref_batch = ref.encode_batch(texts)
    our_batch = ours.encode_batch(texts)
    for text, a, b in zip(texts, ref_batch, our_batch):
        assert_same(a, b, text)
    fast = ours.encode_batch_ids(texts)
    assert fast == [e.ids for e in ref_batch]
    for a in ref_batch:
        assert ours.decode(a.ids) == ref.decode(a.ids)
        assert ours.decode(a.ids, skip_special_tokens=False) == ref.decode(a.ids, skip_special_tokens=False)
    if pairs:
        for a_text, b_text in zip(texts, texts[1:]):
            assert_same(ref.encode(a_text, b_text), ours.encode(a_text, b_text), (a_text, b_text))


@pytest.fixture(scope="module")
def minilm():  # type: ignore[no-untyped-def]
    ref, ours = _pair(str(asset("minilm") / "tokenizer.json"))
    return ref, ours


@pytest.fixture(scope="module")
def gpt2():  # type: ignore[no-untyped-def]
    vocab, merges = gpt2_files()
    ref = tokenizers.Tokenizer(tokenizers.models.BPE(vocab, merges))
    ref.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    ref.decoder = tokenizers.decoders.ByteLevel()
    ref.post_processor = tokenizers.processors.ByteLevel(trim_offsets=True)
    ref.add_special_tokens(["<|endoftext|>"])
    return ref, Tokenizer.from_str(ref.to_str())


def test_minilm_tricky_texts_including_its_fixed_padding(minilm) -> None:  # type: ignore[no-untyped-def]
    ref, ours = minilm  # this tokenizer.json enables truncation at 128 and fixed padding to 128
    _check_texts(ref, ours, TRICKY, pairs=True)


def test_minilm_without_padding_or_truncation(minilm) -> None:  # type: ignore[no-untyped-def]
    ref, ours = _pair(str(asset("minilm") / "tokenizer.json"))
    for t in (ref, ours):
        t.no_padding()
        t.no_truncation()
    _check_texts(ref, ours, TRICKY + read_texts("moby_dick", 40), pairs=True)


@pytest.mark.slow
@pytest.mark.parametrize("corpus, limit", [("sotu", 800), ("moby_dick", 1000), ("tweets_csv", 6000)])
def test_minilm_real_corpora(corpus: str, limit: int | None) -> None:
    ref, ours = _pair(str(asset("minilm") / "tokenizer.json"))
    for t in (ref, ours):
        t.no_padding()
        t.no_truncation()
    texts = read_texts(corpus, limit)
    _check_texts(ref, ours, texts)


@pytest.mark.slow
def test_very_long_single_input(gpt2) -> None:  # type: ignore[no-untyped-def]
    text = whole_speech()
    for ref, ours in (_pair(str(asset("minilm") / "tokenizer.json")), gpt2):
        ref.no_padding()
        ref.no_truncation()
        ours.no_padding()
        ours.no_truncation()
        assert_same(ref.encode(text), ours.encode(text), "whole speech")
        assert ours.encode_batch_ids([text])[0] == ref.encode(text).ids


def test_gpt2_hello_world_and_tricky(gpt2) -> None:  # type: ignore[no-untyped-def]
    ref, ours = gpt2
    assert ours.encode("Hello world").ids == [15496, 995]
    _check_texts(ref, ours, TRICKY, pairs=True)


@pytest.mark.slow
@pytest.mark.parametrize("corpus, limit", [("sotu", 600), ("moby_dick", 800), ("tweets_csv", 5000)])
def test_gpt2_real_corpora(gpt2, corpus: str, limit: int | None) -> None:  # type: ignore[no-untyped-def]
    ref, ours = gpt2
    _check_texts(ref, ours, read_texts(corpus, limit))


def test_whisper_tokenizer_json() -> None:
    ref, ours = _pair(str(asset("whisper_tokenizer")))
    texts = TRICKY + ["<|startoftranscript|><|en|><|transcribe|> Hello<|endoftext|>", " <|0.00|> timestamps"]
    _check_texts(ref, ours, texts, pairs=True)
    ids = ref.encode("<|en|> so it goes").ids
    assert ours.decode(ids, skip_special_tokens=True) == ref.decode(ids, skip_special_tokens=True)


@pytest.mark.slow
def test_whisper_real_corpus() -> None:
    ref, ours = _pair(str(asset("whisper_tokenizer")))
    _check_texts(ref, ours, read_texts("tweets_csv", 2500) + read_texts("moby_dick", 200))


def test_round_trip_matches_reference_json(minilm) -> None:  # type: ignore[no-untyped-def]
    for path in (asset("minilm") / "tokenizer.json", asset("whisper_tokenizer")):
        ref = tokenizers.Tokenizer.from_file(str(path))
        ours = Tokenizer.from_file(path)
        assert json.loads(ours.to_str()) == json.loads(ref.to_str())
        again = Tokenizer.from_str(ours.to_str())
        assert again.to_str() == ours.to_str()
        # and the reference loads what we write
        assert json.loads(tokenizers.Tokenizer.from_str(ours.to_str()).to_str()) == json.loads(ref.to_str())


def test_save_is_atomic_and_loadable(tmp_path, minilm) -> None:  # type: ignore[no-untyped-def]
    _ref, ours = minilm
    target = tmp_path / "sub" / "tokenizer.json"
    ours.save(target)
    assert [p.name for p in target.parent.iterdir()] == ["tokenizer.json"]
    assert tokenizers.Tokenizer.from_file(str(target)).encode("Hello there").ids == ours.encode("Hello there").ids


LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def test_llama3_style_split_bytelevel_ignore_merges_nfc() -> None:
    """Sequence[Split(regex), ByteLevel(use_regex=False)], ignore_merges, NFC, processor Sequence (Llama 3 shape)."""
    vocab, merges = gpt2_files()
    t = tokenizers
    ref = t.Tokenizer(t.models.BPE(vocab, merges, ignore_merges=True))
    ref.normalizer = t.normalizers.NFC()
    ref.pre_tokenizer = t.pre_tokenizers.Sequence([
        t.pre_tokenizers.Split(t.Regex(LLAMA3_SPLIT), "isolated"),
        t.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    ref.decoder = t.decoders.ByteLevel()
    ref.add_special_tokens(["<|begin_of_text|>", "<|eot_id|>"])
    ref.post_processor = t.processors.Sequence([
        t.processors.ByteLevel(trim_offsets=False),
        t.processors.TemplateProcessing(
            single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
            special_tokens=[("<|begin_of_text|>", 50257)],
        ),
    ])
    ours = Tokenizer.from_str(ref.to_str())
    texts = TRICKY + ["<|begin_of_text|>Hello<|eot_id|> 12345 numbers\r\n\r\nlines"] + read_texts("tweets_csv", 300)
    _check_texts(ref, ours, texts, pairs=True)
