"""Legacy tokenizer files -> tokenizer.json, compared with what transformers 5.x builds from the same folder."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from _trainer_helpers import asset, sotu_texts

from embrace.tokenizers.legacy import LegacyTokenizerError, read_merges_txt, tokenizer_json_from_legacy_files

transformers = pytest.importorskip("transformers")
from tokenizers import Tokenizer  # noqa: E402

TRICKY = ["Hello world", "", "  leading and   inner   spaces ", "Café naïve résumé", "北京欢迎你 — 東京",
          "emoji 🤗🚀 ok", "tabs\tand\nnewlines\r\n", "ÅNGSTRÖM e\u0301 combining", "don't stop, it's 3.14!"]


def _spm_lines() -> list[str]:
    return [line for text in sotu_texts(4) for line in text.replace(". ", ".\n").splitlines() if line.strip()]


def _train_spm(out: Path, **kwargs) -> Path:
    spm = pytest.importorskip("sentencepiece")
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(_spm_lines()), model_writer=buf, minloglevel=2, **kwargs)
    out.write_bytes(buf.getvalue())
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("legacy")
    gpt2 = asset("gpt2_bpe")
    minilm = asset("minilm")
    spm_dir = root / "_spm"
    spm_dir.mkdir()

    def make(name: str, files: dict[str, Path], config: dict | None) -> Path:
        folder = root / name
        folder.mkdir()
        for dst, src in files.items():
            shutil.copy(src, folder / dst)
        if config is not None:
            (folder / "tokenizer_config.json").write_text(json.dumps(config))
        return folder

    out: dict[str, Path] = {}
    bpe_files = {"vocab.json": gpt2 / "encoder.json", "merges.txt": gpt2 / "vocab.bpe"}
    out["gpt2"] = make("gpt2", bpe_files, {"tokenizer_class": "GPT2Tokenizer"})
    out["gpt2_prefix_space"] = make("gpt2_prefix_space", bpe_files,
                                    {"tokenizer_class": "GPT2TokenizerFast", "add_prefix_space": True, "pad_token": "<|endoftext|>"})
    out["gpt2_added_tokens_json"] = make("gpt2_added_tokens_json", bpe_files, {"tokenizer_class": "GPT2Tokenizer"})
    (out["gpt2_added_tokens_json"] / "added_tokens.json").write_text(json.dumps({"<tool>": 50257, "<|endoftext|>": 50256}))
    out["roberta"] = make("roberta", bpe_files, {"tokenizer_class": "RobertaTokenizer"})
    out["bert"] = make("bert", {"vocab.txt": minilm / "vocab.txt", "special_tokens_map.json": minilm / "special_tokens_map.json"},
                       json.loads((minilm / "tokenizer_config.json").read_text()))
    out["bert_cased"] = make("bert_cased", {"vocab.txt": minilm / "vocab.txt"},
                             {"tokenizer_class": "BertTokenizer", "do_lower_case": False, "strip_accents": True,
                              "tokenize_chinese_chars": False})
    decoder = {str(i): {"content": c, "lstrip": c == "[MASK]", "normalized": False, "rstrip": False, "single_word": False,
                        "special": True} for i, c in [(0, "[PAD]"), (100, "[UNK]"), (101, "[CLS]"), (102, "[SEP]"), (103, "[MASK]")]}
    decoder["30522"] = {"content": "<new>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False,
                        "special": False}
    out["bert_added_tokens"] = make("bert_added_tokens", {"vocab.txt": minilm / "vocab.txt"},
                                    {"tokenizer_class": "BertTokenizer", "added_tokens_decoder": decoder, "mask_token": "[MASK]"})
    out["bert_from_config_json"] = make("bert_from_config_json", {"vocab.txt": minilm / "vocab.txt",
                                                                  "config.json": minilm / "config.json"}, None)
    llama_model = _train_spm(spm_dir / "bpe.model", vocab_size=600, model_type="bpe", byte_fallback=True)
    unigram_model = _train_spm(spm_dir / "unigram.model", vocab_size=600, model_type="unigram")
    t5_model = _train_spm(spm_dir / "t5.model", vocab_size=600, model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    out["llama"] = make("llama", {"tokenizer.model": llama_model},
                        {"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": True, "add_eos_token": False})
    out["llama_legacy_no_prefix"] = make("llama_legacy_no_prefix", {"tokenizer.model": llama_model},
                                         {"tokenizer_class": "LlamaTokenizer", "legacy": True, "add_prefix_space": False})
    out["t5"] = make("t5", {"spiece.model": t5_model}, {"tokenizer_class": "T5Tokenizer", "extra_ids": 10})
    out["spm_generic_unigram"] = make("spm_generic_unigram", {"tokenizer.model": unigram_model},
                                      {"tokenizer_class": "PreTrainedTokenizerFast"})
    out["spm_generic_bpe"] = make("spm_generic_bpe", {"tokenizer.model": llama_model},
                                  {"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": True})
    return out


CASES = ["gpt2", "gpt2_prefix_space", "gpt2_added_tokens_json", "roberta", "bert", "bert_cased", "bert_added_tokens", "bert_from_config_json",
         "llama", "llama_legacy_no_prefix", "t5", "spm_generic_unigram", "spm_generic_bpe"]


_REFERENCES: dict[str, object] = {}


def _reference(folder: Path):
    """transformers' tokenizer for ``folder``, loaded once per test session (loading is the slow part)."""
    key = str(folder)
    if key not in _REFERENCES:
        _REFERENCES[key] = transformers.AutoTokenizer.from_pretrained(key)
    return _REFERENCES[key]


def _close_scores(ref: list, ours: list) -> bool:
    return len(ref) == len(ours) and all(
        a[0] == b[0] and abs(a[1] - b[1]) <= 1e-12 * max(1.0, abs(a[1])) for a, b in zip(ref, ours)
    )


@pytest.mark.parametrize("case", CASES)
def test_same_tokenizer_json_as_transformers(folders, case):
    if case.startswith(("llama", "t5", "spm")):
        pytest.importorskip("google.protobuf")
    ref = json.loads(_reference(folders[case])._tokenizer.to_str())
    ours = tokenizer_json_from_legacy_files(folders[case])
    assert ours is not None
    if ref["model"]["type"] == "Unigram":
        # transformers deep-copies its tokenizer through a JSON round trip whose float parser is not correctly
        # rounded, so a few scores differ from the .model file's float32 values in the last bit.
        assert _close_scores(ref["model"].pop("vocab"), ours["model"].pop("vocab"))
    assert ours == ref


@pytest.mark.parametrize("case", CASES)
def test_same_ids_as_transformers_on_real_text(folders, case):
    if case.startswith(("llama", "t5", "spm")):
        pytest.importorskip("google.protobuf")
    reference = _reference(folders[case])
    ours = Tokenizer.from_str(json.dumps(tokenizer_json_from_legacy_files(folders[case])))
    texts = [*TRICKY, *sotu_texts(6)[4:6]]
    for text in texts:
        assert ours.encode(text).ids == reference(text)["input_ids"], text
    assert ours.encode("first part", "second part").ids == reference("first part", "second part")["input_ids"]


def test_gpt2_hello_world(folders):
    ours = Tokenizer.from_str(json.dumps(tokenizer_json_from_legacy_files(folders["gpt2"])))
    assert ours.encode("Hello world").ids == [15496, 995]


def test_folder_without_legacy_files_gives_none(tmp_path):
    assert tokenizer_json_from_legacy_files(tmp_path) is None
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}))
    with pytest.raises(LegacyTokenizerError, match="vocab.txt"):
        tokenizer_json_from_legacy_files(tmp_path)


def test_bad_files_raise_typed_errors(tmp_path):
    (tmp_path / "vocab.json").write_text("{not json")
    with pytest.raises(LegacyTokenizerError, match="vocab.json"):
        tokenizer_json_from_legacy_files(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps({"a": 0, "b": 1, "ab": 2}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\nthree parts here\n")
    with pytest.raises(LegacyTokenizerError, match="line 3"):
        tokenizer_json_from_legacy_files(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text("{oops")
    with pytest.raises(LegacyTokenizerError, match="tokenizer_config.json"):
        tokenizer_json_from_legacy_files(tmp_path)


def test_tiktoken_model_file_is_a_clear_error(tmp_path):
    (tmp_path / "tokenizer.model").write_text("IQ== 0\nIg== 1\n")
    with pytest.raises(LegacyTokenizerError, match="tiktoken"):
        tokenizer_json_from_legacy_files(tmp_path, {"tokenizer_class": "LlamaTokenizer"})


def test_unsupported_class_is_a_clear_error(tmp_path):
    (tmp_path / "vocab.txt").write_text("[UNK]\na\n")
    with pytest.raises(LegacyTokenizerError, match="no legacy-file conversion"):
        tokenizer_json_from_legacy_files(tmp_path, {"tokenizer_class": "SomeExoticTokenizer"})


def test_merges_keep_hash_lines(tmp_path):
    (tmp_path / "merges.txt").write_text("#version: 0.2\n# #\nh e\n")
    assert read_merges_txt(tmp_path / "merges.txt") == [("#", "#"), ("h", "e")]


@pytest.mark.parametrize("case", CASES)
def test_embrace_tokenizer_gives_transformers_ids(folders, case):
    if case.startswith(("llama", "t5", "spm")):
        pytest.importorskip("google.protobuf")
    from embrace.tokenizers import Tokenizer as EmbraceTokenizer

    reference = _reference(folders[case])
    ours = EmbraceTokenizer.from_dict(tokenizer_json_from_legacy_files(folders[case]))
    for text in [*TRICKY, *sotu_texts(6)[4:6]]:
        assert ours.encode(text).ids == reference(text)["input_ids"], text
    assert ours.encode("first part", "second part").ids == reference("first part", "second part")["input_ids"]
