"""pipeline(): task names and aliases, default models from the HF cache, typed errors."""

from __future__ import annotations

import shutil

import pytest
from tests.pipelines.conftest import load_tokenizer

from embrace.pipelines import (
    SUPPORTED_TASKS,
    DefaultModelMissingError,
    PipelineInputError,
    PipelineModelError,
    UnknownTaskError,
    check_task,
    pipeline,
)


def test_task_names_and_aliases():
    assert check_task("sentiment-analysis") == "text-classification"
    assert check_task("ner") == "token-classification"
    for task in SUPPORTED_TASKS:
        assert check_task(task) == task


@pytest.mark.parametrize("task", ["text-clasification", "summarisation", 3])
def test_unknown_task_lists_valid_ones(task):
    with pytest.raises(UnknownTaskError) as info:
        pipeline(task, model="whatever")
    if isinstance(task, str):
        assert "text-classification" in str(info.value) and "sentiment-analysis" in str(info.value)


def test_translation_pairs():
    assert check_task("translation_en_to_fr") == "translation"
    assert check_task("translation_de_to_en") == "translation"
    with pytest.raises(UnknownTaskError, match="translation_xx_to_yy"):
        check_task("translation_en")


def test_missing_default_model_names_it():
    with pytest.raises(DefaultModelMissingError) as info:
        pipeline("sentiment-analysis")
    message = str(info.value)
    assert "distilbert/distilbert-base-uncased-finetuned-sst-2-english" in message and "model=" in message


def test_default_model_from_populated_hf_cache(tiny_models, tmp_path, monkeypatch):
    repo = SUPPORTED_TASKS["text-classification"].default_model
    assert repo is not None
    commit = "a" * 40
    root = tmp_path / "hub" / ("models--" + repo.replace("/", "--"))
    shutil.copytree(tiny_models["sequence"], root / "snapshots" / commit)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    classifier = pipeline("sentiment-analysis", tokenizer=load_tokenizer(tiny_models["sequence"]))
    result = classifier("works offline from the cache")
    assert result[0]["label"] in ("NEGATIVE", "POSITIVE") and 0.0 <= result[0]["score"] <= 1.0


def test_model_without_the_task_head(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1)).save_pretrained(tmp_path)
    with pytest.raises(PipelineModelError, match="token-classification"):
        pipeline("ner", model=str(tmp_path), tokenizer=object())


def test_model_object_needs_tokenizer(tiny_models):
    from embrace.models.auto import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_models["sequence"])
    with pytest.raises(PipelineModelError, match="TokenClassification"):
        pipeline("ner", model=model, tokenizer=load_tokenizer(tiny_models["sequence"]))
    with pytest.raises(PipelineInputError, match="tokenizer"):
        pipeline("text-classification", model=model)
    classifier = pipeline("text-classification", model=model, tokenizer=load_tokenizer(tiny_models["sequence"]),
                          device="cpu", dtype="float32")
    assert classifier.device.type == "cpu" and isinstance(classifier(["a", "b"]), list)


def test_missing_task():
    with pytest.raises(PipelineInputError):
        pipeline()


def test_task_inferred_from_the_architecture(tiny_models):
    from embrace.pipelines.task_inference import infer_task

    assert infer_task(str(tiny_models["token"])) == "token-classification"
    assert infer_task(tiny_models["mlm"]) == "fill-mask"
    classifier = pipeline(model=str(tiny_models["sequence"]))
    assert classifier.task == "text-classification"
    assert classifier("inferred")[0]["label"] in ("NEGATIVE", "POSITIVE")


def test_task_inferred_from_the_model_card_and_from_objects(tiny_models, tmp_path):
    from tests.conftest import asset

    from embrace.models.auto import AutoModelForQuestionAnswering
    from embrace.pipelines.task_inference import infer_task, model_card_task

    assert infer_task(str(asset("minilm"))) == "sentence-similarity"  # its card says pipeline_tag: sentence-similarity
    assert model_card_task("---\nlicense: mit\npipeline_tag: 'fill-mask'\n---\n# pipeline_tag: ner\n") == "fill-mask"
    assert model_card_task("# no header\npipeline_tag: ner\n") is None
    shutil.copytree(tiny_models["sequence"], tmp_path / "card")
    (tmp_path / "card" / "README.md").write_text("---\npipeline_tag: zero-shot-classification\n---\nA card.\n")
    assert infer_task(str(tmp_path / "card")) == "zero-shot-classification"
    assert infer_task(AutoModelForQuestionAnswering.from_pretrained(tiny_models["qa"])) == "question-answering"


def test_task_that_cannot_be_inferred(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert", "architectures": ["SomethingElse"]}')
    with pytest.raises(PipelineInputError, match="cannot infer the task.*SomethingElse"):
        pipeline(model=str(tmp_path))
