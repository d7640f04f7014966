"""text-classification / sentiment-analysis against transformers 5.23's pipeline on the same tiny checkpoints."""

from __future__ import annotations

import pytest
from tests.pipelines.conftest import assert_close, cached, ours, reference_pipeline

from embrace.pipelines import PipelineInputError

TEXTS = ["I love this movie, it is wonderful!", "Terrible.", "The weather today is neither good nor bad at all, "
         "just an ordinary grey afternoon in the city.", "ok"]
PAIR = {"text": "A man is eating food.", "text_pair": "Someone eats a meal."}


CALL_ARGS = [{}, {"top_k": None}, {"top_k": 2}, {"top_k": 1}, {"function_to_apply": "sigmoid"},
             {"function_to_apply": "none", "top_k": None}]


@pytest.mark.parametrize("which", ["sequence", "sequence3"])
def test_matches_reference(tiny_models, which):
    ref = reference_pipeline("text-classification", tiny_models[which])
    mine = ours("text-classification", tiny_models[which])
    for kwargs in CALL_ARGS if which == "sequence3" else CALL_ARGS[:2]:
        expected = ref(TEXTS, **kwargs)
        assert_close(mine(TEXTS[0], **kwargs), ref(TEXTS[0], **kwargs), where="single")
        assert_close(mine(TEXTS, **kwargs), expected, where="list")
        assert_close(mine(TEXTS, batch_size=3, **kwargs), expected, where="batched")
    for kwargs in CALL_ARGS[:3]:
        check_pairs(mine, ref, kwargs)


def check_pairs(mine, ref, kwargs):
    assert_close(mine(PAIR, **kwargs), ref(PAIR, **kwargs), where="pair")
    assert_close(mine([PAIR, {"text": "Alone."}], batch_size=2, **kwargs), ref([PAIR, {"text": "Alone."}], **kwargs),
                 where="pairs")


def test_alias_init_top_k_and_generator(tiny_models):
    ref = reference_pipeline("sentiment-analysis", tiny_models["sequence3"], top_k=2)
    mine = ours("sentiment-analysis", tiny_models["sequence3"], top_k=2, batch_size=2)
    assert mine.task == "text-classification"
    assert_close(mine(TEXTS[1]), ref(TEXTS[1]))
    streamed = mine(t for t in TEXTS)
    assert not isinstance(streamed, list)
    assert_close(list(streamed), ref(TEXTS))


@pytest.mark.parametrize("bad", ["", "   ", 3, None, ["a", ["b"]], {"txt": "x"}, [{"text": 1}]])
def test_bad_inputs(tiny_models, bad):
    mine = cached("text-classification", tiny_models["sequence"])
    with pytest.raises(PipelineInputError):
        mine(bad)


@pytest.mark.parametrize("kwargs", [{"top_k": 0}, {"top_k": -1}, {"top_k": "2"}, {"function_to_apply": "relu"},
                                    {"batch_size": 0}, {"nonsense": 1}])
def test_bad_arguments(tiny_models, kwargs):
    mine = cached("text-classification", tiny_models["sequence"])
    with pytest.raises(PipelineInputError):
        mine("fine", **kwargs)


def test_empty_list(tiny_models):
    with pytest.raises(PipelineInputError, match="empty list"):
        ours("text-classification", tiny_models["sequence"])([])


def test_generator_is_read_lazily_and_progress_bar(tiny_models, capsys):
    mine = cached("text-classification", tiny_models["sequence"])
    consumed = []

    def texts():
        for i in range(40):
            consumed.append(i)
            yield f"sentence number {i} " * (1 + i % 5)

    results = mine(texts(), batch_size=2)
    first = next(results)
    assert first["label"] in ("NEGATIVE", "POSITIVE")
    assert len(consumed) == 16  # one window of 8 batches, not the whole stream
    assert len(list(results)) == 39
    out = mine(["a", "b", "c"], progress_bar=True)
    assert len(out) == 3 and "3/3" in capsys.readouterr().err
