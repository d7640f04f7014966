"""Unigram/Metaspace and byte_fallback BPE tokenizers trained with the reference, saved, loaded in embrace."""

from __future__ import annotations

import pytest
from _pipeline_helpers import TRICKY, assert_same, read_texts

tokenizers = pytest.importorskip("tokenizers")

from embrace.tokenizers import Tokenizer  # noqa: E402
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return read_texts("moby_dick", 60)


def _unigram(corpus: list[str], prepend_scheme: str):  # type: ignore[no-untyped-def]
    ref = tokenizers.Tokenizer(models.Unigram())
    ref.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(tokenizers.Regex(" {2,}"), " ")])
    ref.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend_scheme)
    ref.decoder = decoders.Metaspace(prepend_scheme=prepend_scheme)
    trainer = trainers.UnigramTrainer(
        vocab_size=800, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>", show_progress=False
    )
    ref.train_from_iterator(corpus, trainer)
    ref.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B:1 </s>:1", special_tokens=[("</s>", 2)]
    )
    return ref


def _byte_fallback_bpe(corpus: list[str]):  # type: ignore[no-untyped-def]
    ref = tokenizers.Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    ref.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    ref.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    ref.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=600, special_tokens=specials, show_progress=False))
    ref.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", 1)]
    )
    return ref


def _compare(ref, texts: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tokenizer.json"
    ref.save(str(path))
    ours = Tokenizer.from_file(path)
    for text in texts:
        want = ref.encode(text)
        assert_same(want, ours.encode(text), text)
        assert ours.decode(want.ids) == ref.decode(want.ids), text
    for a, b in zip(texts[:100], texts[1:101]):
        assert_same(ref.encode(a, b), ours.encode(a, b), (a, b))
    assert ours.encode_batch_ids(texts) == [e.ids for e in ref.encode_batch(texts)]


@pytest.mark.parametrize("scheme", ["always", "first"])
def test_unigram_metaspace(corpus: list[str], tmp_path, scheme: str) -> None:  # type: ignore[no-untyped-def]
    ref = _unigram(corpus, scheme)
    ref.add_special_tokens(["<mask>"])
    _compare(ref, TRICKY + ["<mask> the whale<mask>", "Call me Ishmael."] + read_texts("tweets_csv", 300), tmp_path)


def test_byte_fallback_bpe(corpus: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    ref = _byte_fallback_bpe(corpus)
    _compare(ref, TRICKY + ["ÆØÅ ∑ 😀 ✓"] + read_texts("tweets_csv", 300), tmp_path)


@pytest.mark.slow
def test_trained_tokenizers_on_larger_corpora(corpus: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    texts = read_texts("tweets_csv", 2000) + read_texts("sotu", 100)
    _compare(_unigram(corpus, "always"), texts, tmp_path)
    _compare(_byte_fallback_bpe(corpus), texts, tmp_path)


def test_wordlevel_whitespace_and_bpe_suffix(corpus: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    ref = tokenizers.Tokenizer(models.WordLevel(unk_token="[UNK]"))
    ref.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    ref.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.Punctuation()]
    )
    ref.train_from_iterator(corpus, trainers.WordLevelTrainer(vocab_size=2000, special_tokens=["[UNK]"]))
    _compare(ref, TRICKY, tmp_path)
    ref = tokenizers.Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>", continuing_subword_prefix="##"))
    ref.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    ref.normalizer = normalizers.Strip()
    ref.decoder = decoders.BPEDecoder(suffix="</w>")
    ref.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=500, special_tokens=["<unk>"], end_of_word_suffix="</w>", continuing_subword_prefix="##",
            show_progress=False,
        ),
    )
    _compare(ref, TRICKY, tmp_path)
