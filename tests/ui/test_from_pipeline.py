"""Interface.from_pipeline: embrace pipelines on tiny random checkpoints behind the web API, results equal to
calling the pipeline directly."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.pipelines.conftest import TinyModels, ours
from tests.pipelines.test_text2text import tiny_t5  # noqa: F401  (fixture)
from tests.pipelines.test_text_generation import tiny_llama  # noqa: F401  (fixture)

from embrace.ui import InputValidationError, Interface, InterfaceConfigError, Label, Slider, Textbox
from embrace.ui.components import JSON


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return TinyModels(tmp_path_factory.mktemp("ui_tiny_models"))


def test_text_classification_label_over_http(tiny_models: TinyModels) -> None:
    pipe = ours("text-classification", tiny_models["sequence3"])
    demo = Interface.from_pipeline(pipe, description="three moods")
    assert [type(c) for c in demo.input_components] == [Textbox] and isinstance(demo.output_components[0], Label)
    assert demo.title.startswith("Text classification") and demo.description == "three moods"
    with demo:
        url = demo.launch(server_port=0, block=False, quiet=True)
        label = httpx.post(url + "/api/predict", json={"data": ["what a day"]}, timeout=30).json()["data"][0]
    expected = sorted(pipe("what a day", top_k=None), key=lambda r: -r["score"])
    assert label["label"] == expected[0]["label"]
    assert [c["label"] for c in label["confidences"]] == [r["label"] for r in expected]
    assert [c["confidence"] for c in label["confidences"]] == pytest.approx([r["score"] for r in expected], abs=1e-6)
    # the pipeline object itself works as the function too: its [{"label", "score"}] output fills a Label
    direct = Interface(pipe, "text", "label").predict(["what a day"])[0]
    assert direct["label"] == pipe("what a day")[0]["label"] and len(direct["confidences"]) == 1


def test_question_answering_two_inputs_two_outputs(tiny_models: TinyModels) -> None:
    pipe = ours("question-answering", tiny_models["qa"])
    demo = Interface.from_pipeline(pipe)
    question, context = "Where does Ada live?", "Ada lives in London and writes programs."
    answer, score = demo.predict([question, context])
    expected = pipe(question=question, context=context)
    assert answer == expected["answer"] and score == pytest.approx(expected["score"])


def test_zero_shot_labels_and_fill_mask_errors_become_422(tiny_models: TinyModels) -> None:
    zero_shot = Interface.from_pipeline(ours("zero-shot-classification", tiny_models["nli"]))
    label = zero_shot.predict(["the match ended late", "sport, politics , cooking"])[0]
    assert sorted(c["label"] for c in label["confidences"]) == ["cooking", "politics", "sport"]
    assert sum(c["confidence"] for c in label["confidences"]) == pytest.approx(1.0, abs=1e-5)

    fill = Interface.from_pipeline(ours("fill-mask", tiny_models["mlm"]))
    assert "[MASK]" in fill.input_components[0].label
    predictions = fill.predict(["Paris is the [MASK] of France."])[0]
    assert len(predictions["confidences"]) == 5
    with fill:
        url = fill.launch(server_port=0, block=False, quiet=True)
        response = httpx.post(url + "/api/predict", json={"data": ["no mask here"]}, timeout=30)
    assert response.status_code == 422 and "mask" in response.json()["error"].lower()
    with pytest.raises(Exception, match="at least one candidate label"):
        zero_shot.predict(["text", " , "])


def test_token_classification_entities_as_json(tiny_models: TinyModels) -> None:
    pipe = ours("token-classification", tiny_models["token"])
    demo = Interface.from_pipeline(pipe)
    assert isinstance(demo.output_components[0], JSON)
    entities = demo.predict(["Ada Lovelace visited Paris"])[0]
    expected = pipe("Ada Lovelace visited Paris")
    assert [e["word"] for e in entities] == [e["word"] for e in expected]


def test_text_generation_streams_then_equals_the_pipeline(tiny_llama: Any) -> None:  # noqa: F811
    pipe = ours("text-generation", tiny_llama)
    demo = Interface.from_pipeline(pipe)
    assert isinstance(demo.input_components[1], Slider) and demo.streaming
    steps = [outputs[0] for outputs in demo.stream(["Once upon a time", 8])]
    expected = pipe("Once upon a time", max_new_tokens=8)[0]["generated_text"]
    assert steps[-1] == expected and len(steps) >= 4  # a step per decoded piece, then the pipeline's own result
    assert all(step.startswith("Once upon a time") for step in steps)
    assert all(len(a) <= len(b) for a, b in zip(steps, steps[1:-1]))
    assert demo.predict(["Once upon a time", 8]) == [expected]
    with pytest.raises(InputValidationError):
        list(demo.stream(["", 8]))  # the pipeline's own input check


def test_summarization_text_form(tiny_t5: Any) -> None:  # noqa: F811
    pipe = ours("summarization", tiny_t5)
    demo = Interface.from_pipeline(pipe)
    assert [c.label for c in demo.input_components] == ["Text", "Max new tokens"]
    assert demo.output_components[0].label == "Summary"
    text = "The tower is 324 metres tall, about the same height as an 81-storey building."
    assert demo.predict([text, 6]) == [pipe(text, max_new_tokens=6)[0]["summary_text"]]


def test_not_a_pipeline() -> None:
    with pytest.raises(InterfaceConfigError, match="needs an embrace pipeline"):
        Interface.from_pipeline(lambda x: x)


def test_real_minilm_sentence_similarity() -> None:
    from tests.conftest import asset

    from embrace.pipelines import pipeline

    pipe = pipeline("sentence-similarity", model=str(asset("minilm")))
    demo = Interface.from_pipeline(pipe)
    label = demo.predict(["A man is eating food.", "A man is eating a piece of bread.\n\nThe girl is carrying a baby."])[0]
    expected = pipe({"source_sentence": "A man is eating food.",
                     "sentences": ["A man is eating a piece of bread.", "The girl is carrying a baby."]})
    assert label["label"] == "A man is eating a piece of bread."  # blank lines are skipped
    assert [c["confidence"] for c in label["confidences"]] == pytest.approx(sorted(expected, reverse=True), abs=1e-6)
    assert label["confidences"][0]["confidence"] > 0.6 > label["confidences"][1]["confidence"]
