"""Interface: the function behind the web API, launched for real on a loopback port (uvicorn in a thread)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

import embrace
from embrace.ui import (
    JSON,
    Checkbox,
    Dropdown,
    InputValidationError,
    Interface,
    InterfaceConfigError,
    Label,
    LaunchError,
    Number,
    Slider,
    Textbox,
)
from embrace.ui.page import render_page


def greet(name: str, times: int, shout: bool, punctuation: str) -> tuple[str, dict[str, float], dict[str, object]]:
    text = " ".join([f"Hello {name}{punctuation}"] * times)
    text = text.upper() if shout else text
    return text, {"short": 1 / len(name), "long": 1 - 1 / len(name)}, {"length": len(text), "words": text.split()}


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[Interface, str]]:
    interface = Interface(
        greet,
        inputs=[Textbox(label="Name", max_length=20), Slider(1, 3, step=1), Checkbox(), Dropdown(["!", "?", "."])],
        outputs=["text", Label(), JSON()],
        title="Greeter <demo>", description="Says hello.", examples=[["Ada", 2, False, "!"], ["Grace", 1, True, "?"]])
    url = interface.launch(server_port=0, block=False, quiet=True)
    yield interface, url
    interface.close()


def post(url: str, **kwargs: object) -> httpx.Response:
    return httpx.post(url + "/api/predict", timeout=10, **kwargs)  # type: ignore[arg-type]


def test_predict_over_http(demo: tuple[Interface, str]) -> None:
    _, url = demo
    response = post(url, json={"data": ["Ada", 2, True, "?"]})
    assert response.status_code == 200, response.text
    text, label, info = response.json()["data"]
    assert text == "HELLO ADA? HELLO ADA?"
    assert label == {"label": "long", "confidences": [{"label": "long", "confidence": pytest.approx(2 / 3)},
                                                      {"label": "short", "confidence": pytest.approx(1 / 3)}]}
    assert info == {"length": 21, "words": ["HELLO", "ADA?", "HELLO", "ADA?"]}
    assert response.json()["duration"] >= 0


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"data": ["Ada", 9, True, "?"]}, 422, "input 2 (Slider 'times'): 9 is outside the slider's range [1, 3]"),
    ({"data": ["Ada", 1, "yes", "?"]}, 422, "input 3 (Checkbox 'shout'): expected true or false"),
    ({"data": ["Ada", 1, True, "#"]}, 422, "input 4 (Dropdown 'punctuation'): '#' is not one of the choices"),
    ({"data": ["A" * 21, 1, True, "?"]}, 422, "input 1 (Textbox 'Name'): text is 21 characters long"),
    ({"data": ["Ada"]}, 422, "expected 4 input value(s) (Textbox 'Name', Slider 'times', Checkbox 'shout'"),
    ({"data": "Ada"}, 422, '"data" must be a list'),
    ({"inputs": ["Ada"]}, 422, 'request body must be a JSON object {"data"'),
    ({"data": ["", 1, True, "?"]}, 500, "ZeroDivisionError: division by zero"),
])
def test_bad_requests_get_clear_errors(demo: tuple[Interface, str], body: object, status: int, message: str) -> None:
    _, url = demo
    response = post(url, json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_malformed_json_and_server_keeps_serving(demo: tuple[Interface, str]) -> None:
    _, url = demo
    response = post(url, content=b'{"data": [', headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
    assert post(url, json={"data": ["Bo", 1, False, "."]}).json()["data"][0] == "Hello Bo."


def test_page_config_and_static_files(demo: tuple[Interface, str]) -> None:
    interface, url = demo
    page = httpx.get(url + "/").text
    assert "<title>Greeter &lt;demo&gt;</title>" in page
    assert 'id="input-0" data-kind="textbox"' in page and 'data-kind="slider"' in page
    assert '<tr data-example="1">' in page and 'id="output-1" class="output" data-kind="label"' in page
    config = httpx.get(url + "/api/config").json()
    assert [c["kind"] for c in config["inputs"]] == ["textbox", "slider", "checkbox", "dropdown"]
    assert [c["label"] for c in config["inputs"]] == ["Name", "times", "shout", "punctuation"]  # from fn's params
    assert config["examples"] == interface.examples
    assert "api/predict" in httpx.get(url + "/static/interface.js").text
    assert httpx.get(url + "/static/interface.css").status_code == 200


def test_close_stops_the_server_and_launch_again() -> None:
    interface = Interface(lambda x: x * 2, Number(), Number())
    url = interface.launch(server_port=0, block=False, quiet=True)
    assert post(url, json={"data": [21]}).json()["data"] == [42.0]
    interface.close()
    with pytest.raises(httpx.TransportError):
        post(url, json={"data": [1]})
    url = interface.launch(server_port=0, block=False, quiet=True)
    assert post(url, json={"data": [1]}).json()["data"] == [2.0]
    with pytest.raises(InterfaceConfigError, match="already running"):
        interface.launch(server_port=0, block=False)
    interface.close()
    interface.close()  # idempotent


def test_blocking_launch_returns_after_close() -> None:
    interface = Interface(str.upper, "text", "text")
    done = threading.Event()

    def serve() -> None:
        interface.launch(server_port=0, block=True, quiet=True)
        done.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while interface.server_port is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert post(f"http://127.0.0.1:{interface.server_port}", json={"data": ["hi"]}).json()["data"] == ["HI"]
    assert not done.is_set()  # still serving
    interface.close()
    assert done.wait(15)


def test_ctrl_c_stops_a_blocking_launch() -> None:
    import signal
    import subprocess
    import sys

    code = "from embrace.ui import Interface\nInterface(str.upper, 'text', 'text').launch(server_port=0)\nprint('stopped')"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # "Running on http://127.0.0.1:PORT  (Ctrl-C to stop)"
        url = first.split()[2]
        assert post(url, json={"data": ["a"]}).json()["data"] == ["A"]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0 and out.strip() == "stopped", err
    assert "Traceback" not in err


def test_port_in_use_is_a_launch_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LaunchError, match=f"cannot listen on 127.0.0.1:{port}.*server_port="):
            Interface(str.upper, "text", "text").launch(server_port=port, block=False)


def test_listening_socket_is_tcp_with_nagle_off() -> None:
    """asyncio sets TCP_NODELAY on accepted connections only when the socket says it is TCP; without it a response
    written in two parts waited ~40 ms for the client's delayed ACK (every request took 44 ms on loopback)."""
    from embrace.ui.server import bind_socket

    with bind_socket("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_default_port_is_gradios_7860_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    with Interface(str.upper, "text", "text") as interface:
        url = interface.launch(block=False, quiet=True)
        assert 7860 <= interface.server_port <= 7959 and url.endswith(str(interface.server_port))  # type: ignore[operator]


def test_configuration_errors() -> None:
    with pytest.raises(InterfaceConfigError, match="can only be an output"):
        Interface(lambda x: x, "label", "text")
    with pytest.raises(InterfaceConfigError, match=r"cannot be called with 2 positional argument\(s\)"):
        Interface(lambda x: x, ["text", "text"], "text")
    with pytest.raises(InterfaceConfigError, match="at least one output"):
        Interface(lambda x: x, "text", [])
    with pytest.raises(InterfaceConfigError, match="example 2 \\['b', 'x'\\] does not fit the inputs: input 2"):
        Interface(lambda a, b: a, ["text", "number"], "text", examples=[["a", 1], ["b", "x"]])
    with pytest.raises(InterfaceConfigError, match="needs a function"):
        Interface("not callable", "text", "text")  # type: ignore[arg-type]


def test_no_inputs() -> None:
    demo = Interface(lambda: 42, None, "number")
    assert demo.predict([]) == [42.0]
    page = render_page(demo)
    assert 'id="input-0"' not in page and 'id="output-0"' in page


def test_examples_for_one_input_and_output_count() -> None:
    single = Interface(str.upper, "text", "text", examples=["a", ["b"]])
    assert single.examples == [["a"], ["b"]]
    two_outputs = Interface(lambda s: s, "text", ["text", "text"])
    with pytest.raises(TypeError, match="must return 2 values"):
        two_outputs.predict(["x"])


def test_concurrency_limit_serializes_calls() -> None:
    active, peak = 0, 0
    lock = threading.Lock()

    def slow(x: float) -> float:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.1)
        with lock:
            active -= 1
        return x

    with Interface(slow, "number", "number") as interface:
        url = interface.launch(server_port=0, block=False, quiet=True)
        threads = [threading.Thread(target=post, args=(url,), kwargs={"json": {"data": [i]}}) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert peak == 1


def test_gradio_launch_idioms() -> None:
    demo = Interface(str.upper, "text", "text")
    assert demo.queue(default_concurrency_limit=2) is demo and demo._slots is not None
    assert demo.queue(default_concurrency_limit=None)._slots is None
    with pytest.raises(InterfaceConfigError, match="share=True .* is not supported"):
        demo.launch(share=True)
    with pytest.raises(InterfaceConfigError, match="concurrency_limit must be an integer"):
        Interface(str.upper, "text", "text", concurrency_limit=0)


def read_events(url: str, data: list[object]) -> list[dict[str, object]]:
    with httpx.stream("POST", url + "/api/stream", json={"data": data}, timeout=30) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        return [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]


def test_generator_function_streams_each_step() -> None:
    def count(word: str, n: int) -> Iterator[str]:
        if word == "boom":
            raise InputValidationError("no explosions")
        for i in range(1, n + 1):
            if word == "fail" and i == 2:
                raise RuntimeError("broke at step 2")
            yield " ".join([word] * i)

    with Interface(count, ["text", Slider(1, 5)], "text") as demo:
        assert demo.streaming and demo.config()["stream"] is True
        url = demo.launch(server_port=0, block=False, quiet=True)
        events = read_events(url, ["la", 3])
        assert [e["data"] for e in events[:-1]] == [["la"], ["la la"], ["la la la"]]
        assert events[-1]["done"] is True
        assert post(url, json={"data": ["la", 2]}).json()["data"] == ["la la"]  # predict: the last step
        failed = read_events(url, ["fail", 3])
        assert failed == [{"data": ["fail"]}, {"error": "RuntimeError: broke at step 2", "status": 500}]
        rejected = httpx.post(url + "/api/stream", json={"data": ["la", 9]})  # checked before the stream starts
        assert rejected.status_code == 422 and "outside the slider's range" in rejected.json()["error"]
        assert read_events(url, ["boom", 1]) == [{"error": "no explosions", "status": 422}]
        assert Interface(lambda s: s.upper(), "text", "text").stream(["x"]).__next__() == ["X"]  # plain fn: one step


def test_stream_stops_the_generator_when_the_client_leaves() -> None:
    closed = threading.Event()

    def forever(word: str) -> Iterator[str]:
        try:
            while True:
                time.sleep(0.01)
                yield word
        finally:
            closed.set()

    with Interface(forever, "text", "text") as demo:  # concurrency_limit=1: the slot must be given back
        url = demo.launch(server_port=0, block=False, quiet=True)
        with httpx.stream("POST", url + "/api/stream", json={"data": ["x"]}, timeout=30) as response:
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("data:")) == 'data: {"data": ["x"]}'
        assert closed.wait(10), "the generator was not closed after the client disconnected"
        with httpx.stream("POST", url + "/api/stream", json={"data": ["y"]}, timeout=10) as response:
            assert next(line for line in response.iter_lines() if line.startswith("data:")) == 'data: {"data": ["y"]}'


def test_a_gradio_snippet_runs_after_changing_the_import() -> None:
    import embrace.ui as gr

    def moods(text: str, threshold: float) -> tuple[dict[str, float], dict[str, object]]:
        happy = min(1.0, text.count("!") / 3)
        return {"happy": happy, "calm": 1 - happy}, {"excited": happy > threshold, "length": len(text)}

    demo = gr.Interface(
        fn=moods,
        inputs=[gr.Textbox(lines=2, placeholder="Say something"), gr.Slider(0, 1, value=0.5, step=0.1, label="Threshold")],
        outputs=[gr.Label(num_top_classes=2), "json"],
        examples=[["Wow!!", 0.5]], title="Moods", description="How excited is the text?")
    url = demo.queue().launch(server_name="127.0.0.1", server_port=0, prevent_thread_lock=True)
    try:
        label, info = post(url, json={"data": ["Yes!!!", 0.5]}).json()["data"]
        assert label["label"] == "happy" and info == {"excited": True, "length": 6}
    finally:
        demo.close()


def test_missing_web_stack_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from embrace.ui import WebDependencyError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    with pytest.raises(WebDependencyError, match=r"needs uvicorn: pip install 'embrace\[serve\]'"):
        Interface(str.upper, "text", "text").launch(server_port=0, block=False)


def test_top_level_names() -> None:
    assert embrace.Interface is Interface and embrace.Textbox is Textbox and embrace.Label is Label
