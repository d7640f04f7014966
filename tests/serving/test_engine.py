"""The batching engine without HTTP: KV-budget admission (a sequence waits until the budget frees), a failing
forward fails only the running batch and the engine keeps serving, and the CLI / model-spec plumbing."""

from __future__ import annotations

import threading
import time

import pytest
from tests.conftest import asset

from embrace.serving.config import ServeConfig
from embrace.serving.engine import ContinuousBatchingEngine, PromptTooLongError, StreamEvent
from embrace.serving.sampling import SamplingParams


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_llama_dir):
    from embrace.models.auto import AutoModelForCausalLM
    from embrace.tokenization import AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), AutoTokenizer.from_pretrained(str(tiny_llama_dir))


class Collector:
    """An ``emit`` callback that records events and signals when ``count`` sequences ended."""

    def __init__(self, count: int) -> None:
        self.events: list[StreamEvent] = []
        self.count = count
        self.done = threading.Event()

    def __call__(self, event: StreamEvent) -> None:
        self.events.append(event)
        if sum(1 for e in self.events if e.finish_reason or e.error) == self.count:
            self.done.set()


def run(engine: ContinuousBatchingEngine, prompts: list[list[int]], params: SamplingParams) -> Collector:
    collector = Collector(len(prompts))
    engine.submit(prompts, [params] * len(prompts), collector)
    assert collector.done.wait(120)
    return collector


def wait_free(engine: ContinuousBatchingEngine) -> None:
    """The last event is sent just before the row is freed (and the idle buffers released) at the same step."""
    deadline = time.monotonic() + 10
    while (engine.cache.rows_in_use or engine._reserved or engine.cache.allocated_bytes()) and \
            time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.cache.rows_in_use == 0 and engine._reserved == 0 and engine.cache.allocated_bytes() == 0


def test_kv_budget_admits_in_turn(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    engine = ContinuousBatchingEngine(model, tokenizer, ServeConfig(kv_cache_tokens=40, threads=1))
    engine.start()
    try:
        params = SamplingParams(max_tokens=30, temperature=0, ignore_eos=True)
        with pytest.raises(PromptTooLongError, match="budget is 40"):
            engine.check_fits(5, 40)
        # each sequence reserves 5 + 30 positions: only one fits the budget at a time
        result = run(engine, [[101, 7, 8, 9, 102], [101, 10, 11, 12, 102]], params)
        finished = [e for e in result.events if e.finish_reason]
        assert [e.completion_tokens for e in finished] == [30, 30]
        first_done = result.events.index(finished[0])
        assert all(e.index == 0 for e in result.events[:first_done + 1])   # the second waited for the first
        wait_free(engine)
    finally:
        engine.stop()


def test_a_failing_forward_fails_the_batch_not_the_engine(model_and_tokenizer, monkeypatch):
    model, tokenizer = model_and_tokenizer
    engine = ContinuousBatchingEngine(model, tokenizer, ServeConfig(threads=1))
    engine.start()
    try:
        params = SamplingParams(max_tokens=5, temperature=0)
        body = model.model
        original = body.forward
        calls = {"n": 0}

        def flaky(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("simulated device failure")
            return original(*args, **kwargs)

        monkeypatch.setattr(body, "forward", flaky)
        failed = run(engine, [[101, 7, 8, 102]], SamplingParams(max_tokens=5, temperature=0, ignore_eos=True))
        assert failed.events[-1].status == 500 and "simulated device failure" in failed.events[-1].error
        assert engine.alive
        wait_free(engine)
        again = run(engine, [[101, 7, 8, 102]], params)
        assert again.events[-1].finish_reason in ("stop", "length")
    finally:
        engine.stop()


def test_model_specs_and_cli(tiny_llama_dir, tmp_path):
    from embrace.cli import build_parser
    from embrace.commands.serve import config_from_args
    from embrace.serving.registry import ModelSpecError, default_specs, detect_task, model_name

    assert detect_task(str(tiny_llama_dir)) == "chat"
    assert detect_task(str(asset("minilm"))) == "embeddings"
    assert detect_task("x.gguf") == "chat"
    with pytest.raises(ModelSpecError, match="TASK=SOURCE"):
        detect_task(str(tmp_path))                        # a folder without config.json
    with pytest.raises(FileNotFoundError, match="neither an existing folder"):
        detect_task(str(tmp_path / "missing"))
    assert model_name(str(asset("smollm2_gguf"))) == "SmolLM2-135M-Instruct"
    assert model_name(str(asset("minilm"))) == "all-minilm-l6-v2"
    assert [s.split("=")[0] for s in default_specs()] == ["chat", "embeddings"]
    args = build_parser().parse_args(["serve", "--api-key", "k1", "--cors-origin", "*", "--max-num-seqs", "8",
                                      "--threads", "1", "chat=./m"])
    config = config_from_args(args)
    assert args.models == ["chat=./m"] and config.api_keys == ("k1",) and config.cors_origins == ("*",)
    assert config.max_num_seqs == 8 and config.threads == 1
    with pytest.raises(ValueError, match="max_num_seqs"):
        ServeConfig(max_num_seqs=0)
