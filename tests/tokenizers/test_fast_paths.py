"""The cached fast paths (ASCII regexes, per-word entry cache, per-word offset trimming) against the reference,
on the configurations that take their different branches; and the UnicodeScripts pre-tokenizer."""

from __future__ import annotations

import pickle
import random
import re

import pytest
import regex
from _pipeline_helpers import TRICKY, assert_same, gpt2_files, read_texts

tokenizers = pytest.importorskip("tokenizers")

from embrace.tokenizers import Tokenizer, pre_tokenizers  # noqa: E402

ASCII_CHARS = "".join(chr(c) for c in range(128))
EXTRA = [
    "  two leading spaces", " one leading", "trailing   ", "a  b\n\n c \t\td", "x", "  ", "\n", "'s 've it's",
    "<|endoftext|>", " <|endoftext|> ", "a<|endoftext|>b", "<|endoftext|> starts", "\ufb01ne \ufb01sh",
    "ünï cödé <|endoftext|>   é", "😀 emoji first", " 😀", "é", "tab\tsep\tvalues  ",
]


def _random_ascii(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = ASCII_CHARS + "aaaeeettt    ''ssll"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(n)]


@pytest.mark.parametrize("name", ["Bert", "Whitespace", "WhitespaceSplit", "ByteLevel"])
def test_ascii_patterns_match_the_unicode_patterns_on_ascii_text(name: str) -> None:
    unicode_pattern = {"Bert": pre_tokenizers.BertPreTokenizer.pattern, "Whitespace": pre_tokenizers.Whitespace.pattern,
                       "WhitespaceSplit": pre_tokenizers.WhitespaceSplit.pattern,
                       "ByteLevel": pre_tokenizers.ByteLevel.regex_pattern}[name]
    ascii_pattern = {"Bert": pre_tokenizers.BertPreTokenizer.ascii_pattern,
                     "Whitespace": pre_tokenizers.Whitespace.ascii_pattern,
                     "WhitespaceSplit": pre_tokenizers.WhitespaceSplit.ascii_pattern,
                     "ByteLevel": pre_tokenizers.GPT2_ASCII}[name]
    assert isinstance(ascii_pattern, re.Pattern) and isinstance(unicode_pattern, regex.Pattern)
    for text in [ASCII_CHARS, ASCII_CHARS[::-1], *_random_ascii(0, 2000)]:
        assert ascii_pattern.findall(text) == unicode_pattern.findall(text), repr(text)


def _byte_level(add_prefix_space: bool, processor: str, normalizer: bool):  # type: ignore[no-untyped-def]
    vocab, merges = gpt2_files()
    t = tokenizers
    ref = t.Tokenizer(t.models.BPE(vocab, merges))
    if normalizer:
        ref.normalizer = t.normalizers.NFKC()  # "\ufb01" -> "fi": alignments that change lengths
    ref.pre_tokenizer = t.pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    ref.decoder = t.decoders.ByteLevel()
    ref.add_special_tokens(["<|endoftext|>"])
    if processor == "bytelevel":
        ref.post_processor = t.processors.ByteLevel(trim_offsets=True, add_prefix_space=True)
    elif processor == "roberta":
        ref.post_processor = t.processors.RobertaProcessing(("<|endoftext|>", 50256), ("<|endoftext|>", 50256),
                                                            trim_offsets=True, add_prefix_space=add_prefix_space)
    return ref, Tokenizer.from_str(ref.to_str())


@pytest.mark.parametrize(("add_prefix_space", "processor", "normalizer"), [
    (False, "bytelevel", False), (True, "bytelevel", False), (False, "roberta", False), (True, "roberta", True),
    (False, "bytelevel", True), (False, "none", False),
])
def test_byte_level_offsets_and_trimming_match_the_reference(add_prefix_space: bool, processor: str,
                                                             normalizer: bool) -> None:
    ref, ours = _byte_level(add_prefix_space, processor, normalizer)
    texts = TRICKY + EXTRA + _random_ascii(1, 200) + read_texts("tweets_csv", 200)
    for batch in (texts, texts):  # the second round runs on warm caches
        for text, a, b in zip(batch, ref.encode_batch(batch), ours.encode_batch(batch)):
            assert_same(a, b, text)
        assert ours.encode_batch_ids(batch) == [e.ids for e in ref.encode_batch(batch)]
    for a_text, b_text in zip(texts[:60], texts[1:61]):
        assert_same(ref.encode(a_text, b_text), ours.encode(a_text, b_text), (a_text, b_text))
    ref.enable_truncation(8, stride=2)  # with truncation the processor trims every overflowing window itself
    ours.enable_truncation(8, stride=2)
    for text in texts[:80]:
        assert_same(ref.encode(text), ours.encode(text), text)


def test_pretokenized_words_and_word_ids_match_the_reference() -> None:
    ref, ours = _byte_level(True, "bytelevel", False)
    for words in (["Hello", " world", "again"], ["  a", "b  "], ["é", "😀", "x y"]):
        assert_same(ref.encode(words, is_pretokenized=True), ours.encode(words, is_pretokenized=True), words)


def test_word_caches_are_not_pickled_and_still_work_after_unpickling() -> None:
    _ref, ours = _byte_level(False, "bytelevel", False)
    ours.encode_batch(["warm the caches up", "and again"])
    assert ours.model.caches
    clone = pickle.loads(pickle.dumps(ours))
    assert clone.model.caches == {}
    assert clone.encode("warm the caches up").ids == ours.encode("warm the caches up").ids
    assert len(pickle.dumps(ours)) == len(pickle.dumps(clone))


def _ref_known_chars() -> list[str]:
    u = tokenizers.pre_tokenizers.UnicodeScripts()
    return [chr(c) for c in range(0x21, 0x3_0000) if not 0xD800 <= c < 0xE000 and u.pre_tokenize_str(chr(c))]


def test_unicode_scripts_matches_the_reference() -> None:
    ref = tokenizers.pre_tokenizers.UnicodeScripts()
    ours = pre_tokenizers.UnicodeScripts()
    known = _ref_known_chars()
    rng = random.Random(0)
    mixers = " abcあア漢ー1.\u0301\t\ue000\u0378"
    texts = [*TRICKY, "どこで生れ。Yes", "Hello, 世界! 123 abc", "  lead", "ΟΔΟΣ abc", "Hi! ーa"]
    texts += ["".join(rng.choice(known) if rng.random() < 0.6 else rng.choice(mixers)
                      for _ in range(rng.randint(0, 14))) for _ in range(3000)]
    for text in texts:
        words, starts = ours.find_word_spans(text)
        got = [(w, (s, s + len(w))) for w, s in zip(words, starts)]
        assert got == ref.pre_tokenize_str(text), repr(text)


def test_unicode_scripts_in_a_tokenizer_json() -> None:
    t = tokenizers
    ref = t.Tokenizer(t.models.WordLevel({"[UNK]": 0, "Hello": 1, "世界": 2, ", ": 3}, unk_token="[UNK]"))
    ref.pre_tokenizer = t.pre_tokenizers.Sequence([t.pre_tokenizers.UnicodeScripts()])
    ours = Tokenizer.from_str(ref.to_str())
    assert ours.to_dict()["pre_tokenizer"] == {"type": "Sequence", "pretokenizers": [{"type": "UnicodeScripts"}]}
    ref.pre_tokenizer = t.pre_tokenizers.UnicodeScripts()
    ours = Tokenizer.from_str(ref.to_str())
    for text in ["Hello, 世界", "  Hello世界, Hello", "x́y 漢字カナ", ""]:
        assert_same(ref.encode(text), ours.encode(text), text)
        assert ours.encode_batch_ids([text]) == [ref.encode(text).ids]


def test_words_without_tokens_keep_their_word_number() -> None:
    ref = tokenizers.Tokenizer(tokenizers.models.BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")]))  # no unk token
    ref.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    ours = Tokenizer.from_str(ref.to_str())
    for text in ["a zz b ab", "zz a", "ab zz zz b", "zz"]:
        assert_same(ref.encode(text), ours.encode(text), text)
