"""The official ``openai`` client against ``embrace serve`` (tiny random Llama + MiniLM): chat and completions,
streaming and not, embeddings; greedy outputs equal in-process ``generate`` even when requests share a batch."""

from __future__ import annotations

import concurrent.futures

import pytest
from tests.conftest import asset

openai = pytest.importorskip("openai")

PROMPTS = ["Once upon a time there was", "Hi", "The weather today is rather nice and the", "A cat"]


@pytest.fixture(scope="module")
def client(tiny_server):
    url, _ = tiny_server
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def reference(tiny_llama_dir):
    """In-process greedy ``generate`` with a separate copy of the model: prompt -> generated text."""
    from embrace.models.auto import AutoModelForCausalLM
    from embrace.tokenization import AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama_dir))

    def run(ids: list[int], max_new_tokens: int) -> str:
        import torch

        prompt = torch.tensor([ids])
        out = model.generate(prompt, max_new_tokens=max_new_tokens, do_sample=False)
        return str(tokenizer.decode(out[0, prompt.shape[1]:].tolist(), skip_special_tokens=True))

    return run, tokenizer


def test_models_listing(client):
    ids = [m.id for m in client.models.list()]
    assert ids == ["serving_tiny_llama0", "all-minilm-l6-v2"]


def test_completions_greedy_equals_generate_alone_and_batched(client, reference):
    run, tokenizer = reference
    expected = [run(tokenizer(p)["input_ids"], 12) for p in PROMPTS]
    alone = client.completions.create(model="serving_tiny_llama0", prompt=PROMPTS[0], max_tokens=12, temperature=0)
    assert alone.choices[0].text == expected[0]
    assert alone.usage.prompt_tokens == len(tokenizer(PROMPTS[0])["input_ids"])
    assert alone.usage.completion_tokens == 12 and alone.choices[0].finish_reason == "length"
    # many requests at once: they join the running batch at different steps and with different lengths
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client.completions.create, model="serving_tiny_llama0", prompt=p, max_tokens=12,
                               temperature=0) for p in PROMPTS * 3]
        texts = [f.result().choices[0].text for f in futures]
    assert texts == expected * 3
    together = client.completions.create(model="serving_tiny_llama0", prompt=PROMPTS, max_tokens=12, temperature=0)
    assert [c.text for c in sorted(together.choices, key=lambda c: c.index)] == expected


def test_chat_streaming_and_not(client, reference):
    run, tokenizer = reference
    messages = [{"role": "user", "content": "Hello there"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    expected = run(ids, 10)
    reply = client.chat.completions.create(model="serving_tiny_llama0", messages=messages, max_tokens=10,
                                           temperature=0)
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == expected
    assert reply.usage.prompt_tokens == len(ids)
    pieces, finish = [], None
    for chunk in client.chat.completions.create(model="serving_tiny_llama0", messages=messages, max_tokens=10,
                                                temperature=0, stream=True):
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == expected and finish == "length"
    assert len([p for p in pieces if p]) > 1   # it really streamed


def test_stream_usage_n_and_seeded_sampling(client):
    chunks = list(client.completions.create(model="serving_tiny_llama0", prompt="Hello", max_tokens=5, n=3,
                                            temperature=1.0, seed=7, stream=True,
                                            stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens == 15 and chunks[-1].choices == []
    texts = {i: "" for i in range(3)}
    for chunk in chunks[:-1]:
        for choice in chunk.choices:
            texts[choice.index] += choice.text
    again = client.completions.create(model="serving_tiny_llama0", prompt="Hello", max_tokens=5, n=3,
                                      temperature=1.0, seed=7)
    assert {c.index: c.text for c in again.choices} == texts   # same seed, same samples, batch or not
    other = client.completions.create(model="serving_tiny_llama0", prompt="Hello", max_tokens=5, n=3,
                                      temperature=1.0, seed=8)
    assert {c.index: c.text for c in other.choices} != texts


def test_logprobs_chat_and_completions(client, reference):
    import math

    reply = client.chat.completions.create(model="serving_tiny_llama0", messages=[{"role": "user", "content": "Hi"}],
                                           max_tokens=4, temperature=0, logprobs=True, top_logprobs=3)
    content = reply.choices[0].logprobs.content
    assert len(content) == 4
    for entry in content:
        assert len(entry.top_logprobs) == 3 and entry.logprob <= 0
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob)   # greedy picks the top token
        assert sum(math.exp(t.logprob) for t in entry.top_logprobs) <= 1 + 1e-5
    done = client.completions.create(model="serving_tiny_llama0", prompt="Hi", max_tokens=3, temperature=0,
                                     logprobs=2)
    assert len(done.choices[0].logprobs.tokens) == 3 and len(done.choices[0].logprobs.top_logprobs[0]) == 2


def test_stop_strings_cut_the_text(client, reference):
    full = client.completions.create(model="serving_tiny_llama0", prompt=PROMPTS[0], max_tokens=12,
                                     temperature=0).choices[0].text
    words = full.split()
    stop = words[2]
    cut = client.completions.create(model="serving_tiny_llama0", prompt=PROMPTS[0], max_tokens=12, temperature=0,
                                    stop=[stop])
    assert cut.choices[0].text == full[:full.index(stop)] and cut.choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="serving_tiny_llama0", prompt=PROMPTS[0], max_tokens=12, temperature=0, stop=stop, stream=True)
        if c.choices)
    assert streamed == cut.choices[0].text


def test_embeddings_match_sentence_embedder(client):
    import numpy as np

    from embrace.embeddings import SentenceEmbedder

    texts = ["A cat sits on the mat.", "Stock markets fell sharply."]
    expected = SentenceEmbedder.from_pretrained(str(asset("minilm"))).encode(texts)
    as_base64 = client.embeddings.create(model="all-minilm-l6-v2", input=texts)   # the client's default encoding
    as_floats = client.embeddings.create(model="all-minilm-l6-v2", input=texts, encoding_format="float")
    for response in (as_base64, as_floats):
        got = np.array([d.embedding for d in sorted(response.data, key=lambda d: d.index)])
        np.testing.assert_allclose(got, expected, atol=1e-5)
    assert as_floats.usage.prompt_tokens > 0
    single = client.embeddings.create(model="all-minilm-l6-v2", input=texts[0], encoding_format="float")
    np.testing.assert_allclose(single.data[0].embedding, expected[0], atol=1e-5)
