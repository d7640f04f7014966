"""Real weights: SmolLM2-135M-Instruct (the offline GGUF asset) behind ``embrace serve``, driven by the official
``openai`` client. Greedy chat and completions equal in-process ``generate`` (also with requests sharing a batch)."""

from __future__ import annotations

import concurrent.futures

import pytest
from tests.conftest import asset
from tests.serving.conftest import start_server

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.slow

MODEL = "SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def smollm2():
    gguf = asset("smollm2_gguf")
    url, registry, stop = start_server([f"chat={gguf}"], max_num_seqs=4)
    served = registry.chat[MODEL]
    yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=300), served, gguf
    stop()


@pytest.fixture(scope="module")
def local_generate(smollm2):
    """Greedy ``generate`` on a second copy of the model, in this process: ids -> new text."""
    import torch

    from embrace.models.auto import AutoModelForCausalLM

    _, served, gguf = smollm2
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)

    def run(ids: list[int], max_new_tokens: int) -> str:
        prompt = torch.tensor([ids])
        out = model.generate(prompt, max_new_tokens=max_new_tokens, do_sample=False)
        return str(served.tokenizer.decode(out[0, prompt.shape[1]:].tolist(), skip_special_tokens=True))

    return run


def test_completion_says_paris(smollm2, local_generate):
    client, served, _ = smollm2
    prompt = "The capital of France is"
    reply = client.completions.create(model=MODEL, prompt=prompt, max_tokens=6, temperature=0)
    assert reply.choices[0].text.startswith(" Paris")
    assert reply.choices[0].text == local_generate(served.tokenizer(prompt)["input_ids"], 6)


def test_chat_stream_and_batch_equal_generate(smollm2, local_generate):
    client, served, _ = smollm2
    questions = ["What is the capital of France?", "Name a colour.", "Say hello in Spanish.", "What is 2+2?"]
    conversations = [[{"role": "user", "content": q}] for q in questions]
    expected = [local_generate(served.tokenizer.apply_chat_template(c, add_generation_prompt=True, return_dict=False),
                               8) for c in conversations]
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
        model=MODEL, messages=conversations[0], max_tokens=8, temperature=0, stream=True) if chunk.choices)
    assert streamed == expected[0] and "Paris" in streamed
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda c: client.chat.completions.create(model=MODEL, messages=c, max_tokens=8,
                                                                         temperature=0), conversations))
    assert [r.choices[0].message.content for r in replies] == expected
