"""text-generation against transformers 5.23's pipeline: a tiny random Llama with the MiniLM tokenizer (plus a small
chat template), greedy decoding, plain prompts and chats."""

from __future__ import annotations

import json

import pytest
from tests.pipelines.conftest import assert_close, build_tiny_chat_llama, ours, reference_pipeline

from embrace.pipelines import PipelineInputError


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return build_tiny_chat_llama(tmp_path_factory.mktemp("tiny_llama"))


def test_prompts_and_chats_match_reference(tiny_llama):
    ref = reference_pipeline("text-generation", tiny_llama)
    mine = ours("text-generation", tiny_llama)
    greedy = {"max_new_tokens": 6, "do_sample": False}
    prompt = "Once upon a time there was"
    assert_close(mine(prompt, **greedy), ref(prompt, **greedy), where="prompt")
    assert_close(mine([prompt, "Hi"], **greedy), ref([prompt, "Hi"], **greedy), where="list")
    assert_close(mine(prompt, return_full_text=False, **greedy), ref(prompt, return_full_text=False, **greedy))
    chat = [{"role": "user", "content": "Hello there"}]
    assert_close(mine(chat, **greedy), ref(chat, **greedy), where="chat")
    prefill = chat + [{"role": "assistant", "content": "Well"}]
    assert_close(mine(prefill, **greedy), ref(prefill, **greedy), where="prefill")
    sampled = mine(prompt, max_new_tokens=4, do_sample=True, top_k=5, num_return_sequences=2)
    assert len(sampled) == 2 and all(s["generated_text"].startswith(prompt) for s in sampled)


def test_batched_prompts_are_left_padded(tiny_llama):
    ref = reference_pipeline("text-generation", tiny_llama)
    mine = ours("text-generation", tiny_llama)
    greedy = {"max_new_tokens": 8, "do_sample": False}
    prompts = ["Once upon a time there was a", "Hi", "The weather today is", "A"]
    one_by_one = mine(prompts, **greedy)
    batched = mine(prompts, batch_size=4, **greedy)
    assert_close(batched, ref(prompts, batch_size=4, **greedy), where="batch of 4")
    assert_close(batched, one_by_one, where="batched vs one at a time")
    ids = mine(prompts[:2], batch_size=2, return_tensors=True, return_text=False, **greedy)
    assert [len(x[0]["generated_token_ids"]) for x in ids] == [len(mine.tokenizer(p)["input_ids"]) + 8
                                                               for p in prompts[:2]]


def test_bad_prompts(tiny_llama):
    mine = ours("text-generation", tiny_llama)
    with pytest.raises(PipelineInputError):
        mine("")
    with pytest.raises(PipelineInputError):
        mine([{"role": "user", "content": 3}])


def test_cli_text_generation_and_chat(tiny_llama, capsys, monkeypatch):
    import io

    from tests.pipelines.test_cli_run import needs_embrace_tokenizer

    from embrace.cli import main

    needs_embrace_tokenizer(tiny_llama)
    assert main(["run", "text-generation", "-m", str(tiny_llama), "--max-new-tokens", "3", "--json", "Hello"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["input"] == "Hello" and line["output"][0]["generated_text"].startswith("Hello")
    monkeypatch.setattr("sys.stdin", io.StringIO("Hi there\nAnd again\n\n"))
    assert main(["chat", "-m", str(tiny_llama), "--max-new-tokens", "3", "--system", "Be brief."]) == 0
    replies = capsys.readouterr().out.splitlines()
    reference = reference_pipeline("text-generation", tiny_llama)
    first = reference([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
                      max_new_tokens=3, do_sample=False)[0]["generated_text"][-1]["content"]
    assert len(replies) == 2 and replies[0] == first


def test_peft_model_in_a_pipeline(tiny_llama):
    from tests.pipelines.conftest import load_tokenizer

    from embrace.models.auto import AutoModelForCausalLM
    from embrace.peft import LoraConfig, get_peft_model
    from embrace.pipelines import pipeline

    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    generator = pipeline("text-generation", model=model, tokenizer=load_tokenizer(tiny_llama))
    greedy = {"max_new_tokens": 5, "do_sample": False}
    with model.disable_adapter():  # B starts at zero: the adapted model equals the base
        plain = generator("Hello there", **greedy)
    assert generator("Hello there", **greedy) == plain
