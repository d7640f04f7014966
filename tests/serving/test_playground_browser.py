"""The playground page at ``/`` in a real headless Chromium against a live server (tiny random Llama + MiniLM):
chat streams tokens into the page as they arrive, embeddings similarity, a pipeline form, and the API key."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.serving.conftest import start_server
from tests.ui.browser import chromium

# Records the assistant bubble's text at every DOM change while it is streaming
WATCH_STREAM = """() => {
  window.__snapshots = [];
  new MutationObserver(() => {
    const bubble = document.querySelector('#messages .message.assistant:last-of-type');
    if (bubble) window.__snapshots.push({text: bubble.querySelector('.content').textContent,
                                         streaming: bubble.classList.contains('streaming')});
  }).observe(document.getElementById('messages'), {subtree: true, childList: true, characterData: true});
}"""
SET_RANGE = "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    tab = browser.new_page()
    yield tab
    tab.close()


def open_playground(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_function("document.getElementById('chat-model').value !== ''")


def send(page: Any, text: str) -> str:
    """Type ``text``, send it, wait for the streamed reply to finish; the reply's text."""
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    page.wait_for_function("document.querySelector('#messages .message.assistant:last-of-type:not(.streaming)')"
                           " && !document.getElementById('send').disabled")
    return str(page.evaluate(
        "document.querySelector('#messages .message.assistant:last-of-type .content').textContent"))


def greedy_reply(url: str, messages: list[dict[str, str]], max_tokens: int, **headers: str) -> str:
    body = {"messages": messages, "max_tokens": max_tokens, "temperature": 0}
    response = httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=60)
    response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"])


def test_chat_streams_tokens_and_keeps_the_conversation(tiny_server: tuple[str, Any], page: Any) -> None:
    url, _ = tiny_server
    open_playground(page, url)
    page.fill("#system-prompt", "Answer briefly.")
    page.eval_on_selector("#temperature", SET_RANGE, "0")
    page.fill("#max-tokens", "40")
    page.evaluate(WATCH_STREAM)

    with page.expect_request("**/v1/chat/completions") as first_request:
        reply = send(page, "Hello there")
    sent = json.loads(first_request.value.post_data)
    assert sent["stream"] is True and sent["temperature"] == 0 and sent["max_tokens"] == 40 and sent["top_p"] == 1
    assert "seed" not in sent  # left empty: random
    assert sent["messages"] == [{"role": "system", "content": "Answer briefly."},
                                {"role": "user", "content": "Hello there"}]

    # the text grew in the page while the reply was streaming: several distinct, growing prefixes
    snapshots = list(dict.fromkeys(s["text"] for s in page.evaluate("window.__snapshots") if s["streaming"] and s["text"]))
    assert len(snapshots) >= 3, f"the reply was not drawn incrementally: {snapshots!r}"
    for shorter, longer in zip(snapshots, snapshots[1:]):
        assert longer.startswith(shorter) and len(longer) > len(shorter)
    assert reply.startswith(snapshots[-1]) and reply
    assert reply == greedy_reply(url, sent["messages"], 40)  # the same text as the non-streaming API, greedy
    assert "tokens" in page.inner_text("#chat-stats")

    with page.expect_request("**/v1/chat/completions") as second_request:
        second = send(page, "And then?")
    history = json.loads(second_request.value.post_data)["messages"]
    assert history == [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Hello there"},
                       {"role": "assistant", "content": reply}, {"role": "user", "content": "And then?"}]
    assert second == greedy_reply(url, history, 40)
    assert page.locator("#messages .message").count() == 4

    page.click("#clear-chat")
    assert page.locator("#messages .message").count() == 0

    # seeded sampling from the page is reproducible and equals the API's answer for the same seed
    page.eval_on_selector("#temperature", SET_RANGE, "1")
    page.eval_on_selector("#top-p", SET_RANGE, "0.9")
    page.fill("#seed", "7")
    with page.expect_request("**/v1/chat/completions") as seeded:
        sampled = send(page, "Tell me more")
    body = json.loads(seeded.value.post_data)
    assert body["seed"] == 7 and body["top_p"] == 0.9 and body["temperature"] == 1
    api = httpx.post(url + "/v1/chat/completions", timeout=60, json={
        "messages": body["messages"], "max_tokens": 40, "temperature": 1, "top_p": 0.9, "seed": 7}).json()
    assert sampled == api["choices"][0]["message"]["content"]


def test_completion_mode_streams_a_plain_prompt(tiny_server: tuple[str, Any], page: Any) -> None:
    url, _ = tiny_server
    open_playground(page, url)
    page.select_option("#chat-mode", "completion")
    assert page.is_disabled("#system-prompt")
    page.eval_on_selector("#temperature", SET_RANGE, "0")
    page.fill("#max-tokens", "12")
    page.fill("#prompt", "Once upon a time")
    with page.expect_request("**/v1/completions") as sent:
        page.press("#prompt", "Enter")
    page.wait_for_function("document.querySelector('#messages .message.completion:not(.streaming)') "
                           "&& !document.getElementById('send').disabled")
    body = json.loads(sent.value.post_data)
    assert body["prompt"] == "Once upon a time" and body["stream"] is True and "messages" not in body
    shown = page.text_content("#messages .message.completion .content")
    api = httpx.post(url + "/v1/completions", json={"prompt": "Once upon a time", "max_tokens": 12, "temperature": 0},
                     timeout=60).json()
    assert shown == api["choices"][0]["text"] and shown


def test_embeddings_similarity_matrix(tiny_server: tuple[str, Any], page: Any) -> None:
    url, _ = tiny_server
    open_playground(page, url)
    page.click("[data-tab=embeddings]")
    texts = page.eval_on_selector_all(".embedding-text", "els => els.map(e => e.value)")
    assert len(texts) == 3
    page.click("#compare")
    page.wait_for_selector("table.matrix")
    vectors = np.array([d["embedding"] for d in httpx.post(url + "/v1/embeddings", json={"input": texts},
                                                           timeout=60).json()["data"]])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = unit @ unit.T
    for i in range(3):
        for j in range(3):
            shown = float(page.inner_text(f'table.matrix td[data-i="{i}"][data-j="{j}"]'))
            assert shown == pytest.approx(expected[i, j], abs=1.5e-3)
    assert "most similar: #1 and #2" in page.inner_text("#embedding-status")  # the two sentences about eating

    page.fill(".embedding-text >> nth=1", "")
    page.fill(".embedding-text >> nth=2", "")
    page.click("#compare")
    assert "at least two texts" in page.inner_text("#embedding-status")


def test_pipeline_form_sentence_similarity(tiny_server: tuple[str, Any], page: Any) -> None:
    url, _ = tiny_server
    open_playground(page, url)
    page.click("[data-tab=pipelines]")
    tasks = page.eval_on_selector_all("#pipeline-task option", "els => els.map(e => e.value)")
    assert {"sentence-similarity", "feature-extraction", "text-generation"} <= set(tasks)
    page.select_option("#pipeline-task", "sentence-similarity")
    page.fill("#field-source", "A cat sits on the mat")
    page.fill("#field-sentences", "A cat is sitting on a rug\nStock markets fell today")
    page.click("#run-pipeline")
    page.wait_for_selector("#pipeline-output .bar-row")
    body = {"inputs": {"source_sentence": "A cat sits on the mat",
                       "sentences": ["A cat is sitting on a rug", "Stock markets fell today"]}}
    expected = httpx.post(url + "/v1/pipelines/sentence-similarity", json=body, timeout=60).json()
    rows = page.locator("#pipeline-output .bar-row")
    assert rows.count() == 2
    assert rows.nth(0).locator(".bar-label").inner_text() == "A cat is sitting on a rug"  # best first
    assert float(rows.nth(0).locator(".bar-value").inner_text()) == pytest.approx(max(expected), abs=1e-3)
    assert json.loads(page.text_content("#pipeline-raw")) == pytest.approx(expected)

    page.select_option("#pipeline-task", "text-generation")
    page.fill("#field-text", "Once upon a time")
    page.fill("#field-max_new_tokens", "0")  # rejected by the server: the message is shown
    page.click("#run-pipeline")
    page.wait_for_selector("#pipeline-status.error")
    assert "max_new_tokens" in page.inner_text("#pipeline-status")


# task -> (form fields to fill, the request the form must send, how many rows the drawn result has)
TASK_FORMS: dict[str, tuple[dict[str, str], dict[str, Any], str]] = {
    "text-classification": ({"text": "What a lovely day"}, {"inputs": "What a lovely day", "parameters": {"top_k": None}},
                            ".bar-row"),
    "token-classification": ({"text": "Ada lives in Paris"}, {"inputs": "Ada lives in Paris"}, "table.entities tbody tr"),
    "question-answering": ({"question": "Where does Ada live?", "context": "Ada lives in Paris with her cat."},
                           {"inputs": {"question": "Where does Ada live?", "context": "Ada lives in Paris with her cat."}},
                           ".result-text"),
    "fill-mask": ({"text": "Paris is the [MASK] of France."}, {"inputs": "Paris is the [MASK] of France."}, ".bar-row"),
    "zero-shot-classification": ({"text": "The match went to extra time", "labels": "sport, politics,cooking"},
                                 {"inputs": "The match went to extra time",
                                  "parameters": {"candidate_labels": ["sport", "politics", "cooking"]}}, ".bar-row"),
}


def test_pipeline_forms_for_every_task(page: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.pipelines.conftest import TinyModels

    tiny = TinyModels(tmp_path_factory.mktemp("playground_pipelines"))
    folders = {"text-classification": "sequence3", "token-classification": "token", "question-answering": "qa",
               "fill-mask": "mlm", "zero-shot-classification": "nli"}
    url, _, stop = start_server([f"{task}={tiny[name]}" for task, name in folders.items()])
    try:
        page.goto(url + "/")
        page.click("[data-tab=pipelines]")
        page.wait_for_function("document.getElementById('pipeline-task').options.length === 5")
        for task, (fields, request, drawn) in TASK_FORMS.items():
            page.select_option("#pipeline-task", task)
            assert page.input_value("#pipeline-model") == folders[task]
            for name, value in fields.items():
                page.fill(f"#field-{name}", value)
            with page.expect_request(f"**/v1/pipelines/{task}") as sent:
                page.click("#run-pipeline")
            page.wait_for_function("document.getElementById('pipeline-status').textContent.startsWith('Done')")
            assert json.loads(sent.value.post_data) == {**request, "model": folders[task]}, task
            expected = httpx.post(f"{url}/v1/pipelines/{task}", json=request, timeout=60).json()
            assert json.loads(page.text_content("#pipeline-raw")) == expected, task
            rows = page.locator(f"#pipeline-output {drawn}")
            if task == "question-answering":
                assert rows.inner_text().startswith(expected["answer"])
            elif task == "token-classification":
                assert rows.count() == len(expected)
            else:
                labels = [r["label"] if "label" in r else r["token_str"] for r in expected] \
                    if isinstance(expected, list) else expected["labels"]
                assert rows.locator(".bar-label").all_inner_texts() == labels, task  # best first, as returned
    finally:
        stop()


def test_api_key_prompt_then_chat(tiny_llama_dir: Path, page: Any) -> None:
    url, _, stop = start_server([f"chat={tiny_llama_dir}"], api_keys=("sekret",))
    try:
        page.goto(url + "/")
        page.wait_for_selector("#banner:not([hidden])")
        assert "needs an API key" in page.inner_text("#banner")
        assert page.inner_text("#api-key-status") == "key required"
        page.fill("#api-key", "wrong")
        page.press("#api-key", "Enter")
        page.wait_for_function("document.getElementById('api-key-status').textContent === 'key rejected'")
        page.fill("#api-key", "sekret")
        page.press("#api-key", "Enter")
        page.wait_for_function("document.getElementById('chat-model').value !== ''")
        assert page.is_hidden("#banner") and page.inner_text("#api-key-status") == "key accepted"
        page.eval_on_selector("#temperature", SET_RANGE, "0")
        page.fill("#max-tokens", "8")
        reply = send(page, "Hi")
        assert reply == greedy_reply(url, [{"role": "user", "content": "Hi"}], 8, Authorization="Bearer sekret")
    finally:
        stop()


@pytest.mark.slow
def test_stop_cancels_a_real_smollm2_stream(page: Any) -> None:
    from tests.conftest import asset

    url, _, stop = start_server([f"chat={asset('smollm2_gguf')}"], max_num_seqs=2, max_model_len=1024)
    try:
        open_playground(page, url)
        page.fill("#max-tokens", "600")
        page.fill("#prompt", "Write a long story about a dragon who learns to paint.")
        page.press("#prompt", "Enter")
        page.wait_for_function("document.querySelector('#messages .message.assistant .content').textContent.length > 15",
                               timeout=120_000)
        page.click("#stop")
        page.wait_for_function("!document.getElementById('send').disabled")
        assert "finish: stopped" in page.inner_text("#chat-stats")
        partial = page.text_content("#messages .message.assistant .content")
        assert partial and "Error" not in partial
        # the server saw the disconnect: the sequence was cancelled and its KV slot given back
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            metrics = httpx.get(url + "/metrics").text
            if 'embrace_sequences_finished_total{reason="cancelled"} 1' in metrics:
                break
            time.sleep(0.2)
        assert 'embrace_sequences_finished_total{reason="cancelled"} 1' in metrics
        assert "embrace_running_sequences 0" in metrics and "embrace_kv_slots_in_use 0" in metrics
        # the stopped reply stays in the conversation
        with page.expect_request("**/v1/chat/completions") as sent:
            page.fill("#max-tokens", "5")
            send(page, "Thanks")
        assert json.loads(sent.value.post_data)["messages"][1] == {"role": "assistant", "content": partial}
    finally:
        stop()
