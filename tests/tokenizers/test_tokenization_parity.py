"""The user-facing tokenizer (AutoTokenizer, __call__, decode, save) against transformers.AutoTokenizer."""

from __future__ import annotations

import json

import pytest
from _pipeline_helpers import TRICKY, gpt2_files, read_texts
from tests.conftest import asset

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from embrace.tokenization import AutoTokenizer, BatchEncoding, PreTrainedTokenizer, PreTrainedTokenizerFast  # noqa: E402
from embrace.tokenizers.errors import TokenIdError, TokenizerError, TokenizerInputError  # noqa: E402


def _plain(out) -> dict:  # type: ignore[no-untyped-def]
    return {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in out.items()}


@pytest.fixture(scope="module")
def bert():  # type: ignore[no-untyped-def]
    path = asset("minilm")
    return transformers.AutoTokenizer.from_pretrained(str(path)), AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):  # type: ignore[no-untyped-def]
    vocab, merges = gpt2_files()
    backend = tokenizers.Tokenizer(tokenizers.models.BPE(vocab, merges))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = tokenizers.decoders.ByteLevel()
    backend.post_processor = tokenizers.processors.ByteLevel(trim_offsets=True)
    backend.add_special_tokens(["<|endoftext|>"])
    folder = tmp_path_factory.mktemp("gpt2")
    backend.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
              "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "model_max_length": 1024,
              "padding_side": "left"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return transformers.AutoTokenizer.from_pretrained(str(folder)), AutoTokenizer.from_pretrained(folder)


CASES = [
    {"text": "Hello world, this is a test of the tokenizer"},
    {"text": TRICKY[:6]},
    {"text": TRICKY, "padding": True},
    {"text": TRICKY, "padding": "max_length", "max_length": 24, "truncation": True},
    {"text": TRICKY, "padding": True, "pad_to_multiple_of": 8, "padding_side": "left"},
    {"text": TRICKY, "truncation": True, "max_length": 7, "stride": 2, "return_overflowing_tokens": True,
     "padding": True, "return_offsets_mapping": True},
    {"text": "A long first sentence that goes on and on", "text_pair": "short pair", "truncation": "only_first",
     "max_length": 12, "stride": 3, "return_overflowing_tokens": True, "return_offsets_mapping": True},
    {"text": ["one two three four five six", "x"], "text_pair": ["a b", "c d e f g h i j k"],
     "truncation": "longest_first", "max_length": 9, "padding": True, "return_special_tokens_mask": True,
     "return_length": True, "return_offsets_mapping": True},
    {"text": ["short", "a much longer second sentence"], "text_pair": ["the pair", "pair two goes here too"],
     "truncation": "only_second", "max_length": 10, "stride": 1, "return_overflowing_tokens": True},
    {"text": [["Hello", "world"], ["pre", "split", "words"]], "is_split_into_words": True, "padding": True,
     "return_offsets_mapping": True},
    {"text": "no specials here", "add_special_tokens": False, "return_token_type_ids": False},
    {"text": TRICKY, "padding": True, "truncation": True, "max_length": 16, "return_tensors": "np"},
    {"text": ["ends with the pad token<|endoftext|>", "x [PAD]"], "padding": "max_length", "max_length": 12,
     "pad_to_multiple_of": 4, "truncation": True, "padding_side": "left", "return_length": True},
    {"text": TRICKY, "truncation": True, "max_length": 5},
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("which", ["bert", "gpt2"])
def test_call_matches_transformers(request, which: str, case: int) -> None:  # type: ignore[no-untyped-def]
    ref, ours = request.getfixturevalue(which)
    kwargs = CASES[case]
    want, got = ref(**kwargs), ours(**kwargs)
    assert isinstance(got, BatchEncoding)
    assert _plain(got) == _plain(want)
    assert len(got.encodings) == len(want.encodings)
    for i in range(len(want.encodings)):
        assert got.word_ids(i) == want.word_ids(i)
        assert got.sequence_ids(i) == want.sequence_ids(i)
        assert got.tokens(i) == want.tokens(i)


def test_return_tensors_pt_and_to(bert) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    ref, ours = bert
    got = ours(["a b c", "d"], padding=True, return_tensors="pt")
    want = ref(["a b c", "d"], padding=True, return_tensors="pt")
    for key in want:
        assert torch.equal(got[key], want[key])
        assert got[key].dtype == want[key].dtype
    moved = got.to("cpu")
    assert moved is got and moved.input_ids.device.type == "cpu"
    single = ours("hello", return_tensors="pt")
    assert single["input_ids"].shape == (1, 3)
    with pytest.raises(TokenizerError, match="padding=True"):
        ours(["a b c", "d"], return_tensors="pt")


@pytest.mark.parametrize("which", ["bert", "gpt2"])
def test_decode_and_batch_decode(request, which: str) -> None:  # type: ignore[no-untyped-def]
    ref, ours = request.getfixturevalue(which)
    texts = TRICKY + read_texts("tweets_csv", 200)
    batch = ref(texts)["input_ids"]
    for skip in (False, True):
        for clean in (None, True, False):
            assert ours.batch_decode(batch, skip_special_tokens=skip, clean_up_tokenization_spaces=clean) == \
                ref.batch_decode(batch, skip_special_tokens=skip, clean_up_tokenization_spaces=clean)
    assert ours.decode(batch[3]) == ref.decode(batch[3])
    assert ours.encode(texts[3]) == ref.encode(texts[3])
    assert ours.tokenize(texts[3]) == ref.tokenize(texts[3])
    tokens = ref.convert_ids_to_tokens(batch[3])
    assert ours.convert_ids_to_tokens(batch[3]) == tokens
    assert ours.convert_tokens_to_ids(tokens + ["not-a-token-xyz"]) == ref.convert_tokens_to_ids(tokens + ["not-a-token-xyz"])
    assert ours.convert_tokens_to_string(tokens) == ref.convert_tokens_to_string(tokens)


@pytest.mark.parametrize("which", ["bert", "gpt2"])
def test_vocab_special_tokens_and_added_tokens(request, tmp_path, which: str) -> None:  # type: ignore[no-untyped-def]
    ref_fixture, _ = request.getfixturevalue(which)
    folder = tmp_path / "src"
    ref_fixture.save_pretrained(str(folder))
    ref = transformers.AutoTokenizer.from_pretrained(str(folder))
    ours = AutoTokenizer.from_pretrained(folder)
    assert (len(ours), ours.vocab_size) == (len(ref), ref.vocab_size)
    assert ours.all_special_tokens == ref.all_special_tokens
    assert ours.all_special_ids == ref.all_special_ids
    for attr in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        assert getattr(ours, attr) == getattr(ref, attr), attr
        assert getattr(ours, attr + "_id") == getattr(ref, attr + "_id"), attr
    assert ours.model_input_names == ref.model_input_names
    assert ours.padding_side == ref.padding_side
    assert ours.add_tokens(["<new1>", "hello", "<new1>"]) == ref.add_tokens(["<new1>", "hello", "<new1>"])
    assert ours.add_special_tokens({"additional_special_tokens": ["<extra>"]}) == \
        ref.add_special_tokens({"additional_special_tokens": ["<extra>"]})
    text = "say <new1> and <extra> hello"
    assert _plain(ours(text)) == _plain(ref(text))
    assert ours.decode(ours(text)["input_ids"], skip_special_tokens=True) == \
        ref.decode(ref(text)["input_ids"], skip_special_tokens=True)
    assert len(ours) == len(ref)
    # save ours, load in both
    saved = tmp_path / "ours"
    files = ours.save_pretrained(saved)
    assert sorted(p.split("/")[-1] for p in files) == ["tokenizer.json", "tokenizer_config.json"]
    again_ref = transformers.AutoTokenizer.from_pretrained(str(saved))
    again_ours = AutoTokenizer.from_pretrained(saved)
    for tok in (again_ref, again_ours):
        assert _plain(tok(text, padding="max_length", max_length=20)) == _plain(ref(text, padding="max_length", max_length=20))


def test_pad_token_assignment_and_aliases(gpt2) -> None:  # type: ignore[no-untyped-def]
    _ref, ours = gpt2
    assert PreTrainedTokenizer is PreTrainedTokenizerFast
    ours.pad_token = ours.eos_token
    assert ours.pad_token_id == ours.eos_token_id == 50256
    padded = ours.pad([{"input_ids": [1, 2, 3]}, {"input_ids": [4]}])
    assert padded["input_ids"] == [[1, 2, 3], [50256, 50256, 4]]
    assert padded["attention_mask"] == [[1, 1, 1], [0, 0, 1]]


def test_bad_inputs_give_typed_errors(bert) -> None:  # type: ignore[no-untyped-def]
    _ref, ours = bert
    with pytest.raises(TokenizerInputError):
        ours(12345)
    with pytest.raises(TokenizerInputError):
        ours(["fine", None])
    with pytest.raises(TokenizerInputError):
        ours(["a", "b"], text_pair="single")
    with pytest.raises(TokenIdError, match="outside the vocabulary"):
        ours.decode([101, 99999999])
    with pytest.raises(TokenizerError, match="padding must be"):
        ours("x", padding="sideways")
    with pytest.raises(TokenizerError, match="only_second"):
        ours("just one", truncation="only_second", max_length=3)
    with pytest.raises(Exception, match="does not exist|not found|neither"):
        AutoTokenizer.from_pretrained("/definitely/not/a/folder")


@pytest.mark.parametrize("kwargs", [{}, {"padding": "max_length", "max_length": 12}, {"pad_to_multiple_of": 8},
                                    {"padding_side": "left"}, {"return_tensors": "np"}])
def test_pad_features_like_transformers(bert, kwargs: dict) -> None:  # type: ignore[no-untyped-def]
    ref, ours = bert
    features = [dict(ref("hello world")), dict(ref("a longer sentence here ok"))]
    want, got = ref.pad(features, **kwargs), ours.pad(features, **kwargs)
    assert _plain(got) == _plain(want)


def test_folder_with_only_legacy_vocab_txt(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(asset("minilm") / name, tmp_path / name)
    ref, ours = transformers.AutoTokenizer.from_pretrained(str(tmp_path)), AutoTokenizer.from_pretrained(tmp_path)
    assert _plain(ours(TRICKY, padding=True, return_offsets_mapping=True)) == \
        _plain(ref(TRICKY, padding=True, return_offsets_mapping=True))
