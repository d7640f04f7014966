"""text2text-generation, summarization and translation. transformers 5 removed these pipelines, so the oracle is
what its 4.x pipelines did: the reference model's ``generate`` on the (prefixed) input, decoded with
``skip_special_tokens=True``. Tiny random T5 and BART models carry the MiniLM tokenizer files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.pipelines.conftest import TOKENIZER_FILES, load_tokenizer, ours

from embrace.pipelines import DefaultModelMissingError, PipelineInputError, PipelineModelError, pipeline

T5_PARAMS = {"summarization": {"prefix": "summarize: ", "num_beams": 2, "max_length": 12, "min_length": 3},
             "translation_en_to_de": {"prefix": "translate English to German: ", "num_beams": 2, "max_length": 10}}


def _with_tokenizer(folder: Path) -> Path:
    from tests.conftest import asset

    for name in TOKENIZER_FILES:
        if (asset("minilm") / name).exists():
            shutil.copy(asset("minilm") / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    folder = tmp_path_factory.mktemp("tiny_t5")
    torch.manual_seed(0)
    config = T5Config(vocab_size=30522, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, pad_token_id=0,
                      eos_token_id=102, decoder_start_token_id=0, task_specific_params=T5_PARAMS)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    return _with_tokenizer(folder)


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    folder = tmp_path_factory.mktemp("tiny_bart")
    torch.manual_seed(1)
    config = BartConfig(vocab_size=30522, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
                        pad_token_id=0, bos_token_id=101, eos_token_id=102, decoder_start_token_id=102,
                        forced_bos_token_id=101, forced_eos_token_id=102)
    BartForConditionalGeneration(config).save_pretrained(folder)
    return _with_tokenizer(folder)


def reference_outputs(path: Path, texts: list[str], **generate_kwargs: Any) -> list[list[str]]:
    """What the 4.x pipelines returned: generate per input, decode each returned sequence."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(path)).eval()
    results = []
    for text in texts:
        inputs = tokenizer(text, return_tensors="pt")
        inputs.pop("token_type_ids", None)
        with torch.no_grad():
            ids = model.generate(**inputs, **generate_kwargs)
        results.append([tokenizer.decode(row, skip_special_tokens=True, clean_up_tokenization_spaces=False)
                        for row in ids])
    return results


TEXTS = ["The quick brown fox jumps over the lazy dog.", "Hello world", "A much longer input sentence that goes on"]


def test_text2text_matches_reference_generate(tiny_t5):
    mine = ours("text2text-generation", tiny_t5)
    greedy = {"max_new_tokens": 8, "do_sample": False}
    expected = reference_outputs(tiny_t5, TEXTS, **greedy)
    assert mine(TEXTS[0], **greedy) == [{"generated_text": expected[0][0]}]
    assert mine(TEXTS, batch_size=2, **greedy) == [{"generated_text": e[0]} for e in expected]
    beams = {"max_new_tokens": 6, "num_beams": 3, "num_return_sequences": 2}
    expected_beams = reference_outputs(tiny_t5, TEXTS[:2], **beams)
    assert mine(TEXTS[:2], **beams) == [[{"generated_text": t} for t in e] for e in expected_beams]
    ids = mine(TEXTS[1], return_tensors=True, **greedy)[0]["generated_token_ids"]
    assert mine.tokenizer.decode(ids.tolist(), skip_special_tokens=True) == expected[1][0]


def test_task_specific_params_prefix_and_defaults(tiny_t5):
    summarizer = ours("summarization", tiny_t5)
    expected = reference_outputs(tiny_t5, ["summarize: " + TEXTS[2]], num_beams=2, max_length=12, min_length=3)
    assert summarizer(TEXTS[2]) == [{"summary_text": expected[0][0]}]
    translator = ours("translation_en_to_de", tiny_t5)
    expected = reference_outputs(tiny_t5, ["translate English to German: " + TEXTS[1]], num_beams=2, max_length=10)
    assert translator(TEXTS[1]) == [{"translation_text": expected[0][0]}]
    override = reference_outputs(tiny_t5, ["translate English to German: " + TEXTS[1]], num_beams=1, max_length=5)
    assert translator(TEXTS[1], num_beams=1, max_length=5) == [{"translation_text": override[0][0]}]
    with pytest.raises(PipelineInputError, match="min_length"):
        summarizer(TEXTS[0], min_length=20, max_length=10)


def test_bart_summarization_batched(tiny_bart):
    summarizer = ours("summarization", tiny_bart)
    greedy = {"max_length": 16, "min_length": 2, "num_beams": 1, "do_sample": False}
    expected = reference_outputs(tiny_bart, TEXTS, **greedy)
    assert summarizer(TEXTS, batch_size=3, **greedy) == [{"summary_text": e[0]} for e in expected]
    assert summarizer(iter(TEXTS[:2]), **greedy).__next__() == [{"summary_text": expected[0][0]}]


def test_bad_inputs_and_models(tiny_t5, tiny_models):
    mine = ours("summarization", tiny_t5)
    with pytest.raises(PipelineInputError):
        mine("   ")
    with pytest.raises(PipelineInputError):
        mine([TEXTS[0], 3])
    with pytest.raises(PipelineModelError, match="summarization"):
        pipeline("summarization", model=str(tiny_models["sequence"]), tokenizer=load_tokenizer(tiny_models["sequence"]))
    with pytest.raises(DefaultModelMissingError, match="google-t5/t5-base"):
        pipeline("translation_en_to_fr")
    with pytest.raises(DefaultModelMissingError, match="model="):
        pipeline("translation_en_to_ja")
    assert pipeline(model=str(tiny_t5), tokenizer=load_tokenizer(tiny_t5)).task == "text2text-generation"


def test_cli_summarization_and_translation(tiny_t5, capsys):
    import json

    from tests.pipelines.test_cli_run import needs_embrace_tokenizer

    from embrace.cli import main

    needs_embrace_tokenizer(tiny_t5)
    assert main(["run", "summarization", "-m", str(tiny_t5), "--json", TEXTS[2]]) == 0
    expected = reference_outputs(tiny_t5, ["summarize: " + TEXTS[2]], num_beams=2, max_length=12, min_length=3)
    assert json.loads(capsys.readouterr().out)["output"] == [{"summary_text": expected[0][0]}]
    assert main(["run", "translation_en_to_de", "-m", str(tiny_t5), "--max-new-tokens", "4", TEXTS[1]]) == 0
    assert capsys.readouterr().out.strip().endswith(TEXTS[1])
