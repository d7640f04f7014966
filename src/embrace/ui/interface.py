"""``Interface``: put any Python function (or an embrace pipeline) behind a web form, in the spirit of Gradio.

>>> from embrace.ui import Interface
>>> demo = Interface(lambda name, n: "Hello " + name + "!" * n, ["text", Slider(1, 5)], "text")
>>> demo.launch()                      # http://127.0.0.1:7860, Ctrl-C stops it

The page is a plain HTML form drawn from the components; its script posts ``{"data": [...]}`` to
``POST /api/predict`` and shows the ``{"data": [...]}`` that comes back. The same API serves scripts::

    httpx.post(url + "/api/predict", json={"data": ["Ada", 3]}).json()   # {"data": ["Hello Ada!!!"], ...}

Inputs are checked by their components (wrong type, out of range, not a choice -> HTTP 422 with a message naming
the input); an exception in the function -> HTTP 500 with its type and message. A generator function streams: the
page redraws the outputs after each ``yield`` (``POST /api/stream``, Server-Sent Events). The routes live in
:mod:`embrace.ui.app`; the server is FastAPI + uvicorn, like ``embrace serve``.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable, Generator, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from embrace.ui.components import Component, component_from
from embrace.ui.errors import InputValidationError, InterfaceConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from embrace.ui.server import BackgroundServer



def _as_components(spec: Any, role: str) -> list[Component]:
    if spec is None:
        return []
    specs = list(spec) if isinstance(spec, list | tuple) else [spec]
    components = [component_from(s) for s in specs]
    if role == "input":
        for c in components:
            if not c.can_input:
                raise InterfaceConfigError(f"{c.describe()} can only be an output, not an input")
    return components


def _check_arity(fn: Callable[..., Any], n_inputs: int) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some C callables have none: trust them
        return
    try:
        signature.bind(*([None] * n_inputs))
    except TypeError as exc:
        name = getattr(fn, "__name__", type(fn).__name__)
        raise InterfaceConfigError(
            f"{name}{signature} cannot be called with {n_inputs} positional argument(s), one per input "
            f"component: {exc}") from None


def _concurrency_gate(concurrency_limit: int | None) -> threading.BoundedSemaphore | None:
    """The semaphore that bounds concurrent calls of the function (None: no bound)."""
    if concurrency_limit is None:
        return None
    if isinstance(concurrency_limit, bool) or not isinstance(concurrency_limit, int) or concurrency_limit < 1:
        raise InterfaceConfigError(f"concurrency_limit must be an integer >= 1 or None, got {concurrency_limit!r}")
    return threading.BoundedSemaphore(concurrency_limit)


def _fill_default_labels(fn: Callable[..., Any], inputs: list[Component], outputs: list[Component]) -> None:
    """Unlabelled inputs take the name of the function parameter they fill (like Gradio); outputs "output N"."""
    try:
        names = [p.name for p in inspect.signature(fn).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    for i, component in enumerate(inputs):
        if component.label is None and i < len(names):
            component.label = names[i]
    for i, component in enumerate(outputs):
        if component.label is None:
            component.label = "output" if len(outputs) == 1 else f"output {i + 1}"


class Interface:
    """A web form for ``fn``: one component per argument (``inputs``) and per returned value (``outputs``).

    ``inputs``/``outputs``: a component (``Textbox(label="Name")``), a component class, a shortcut name
    (``"text"``, ``"textarea"``, ``"number"``, ``"slider"``, ``"checkbox"``, ``"json"``, ``"label"``), or a list of
    them. With several outputs ``fn`` returns a tuple. ``examples``: rows of input values the page offers as
    one-click fills (checked against the inputs now). ``concurrency_limit``: how many calls of ``fn`` may run at
    once (1, the default, suits a model on one device).
    """

    def __init__(self, fn: Callable[..., Any], inputs: Any, outputs: Any, *, title: str | None = None,
                 description: str | None = None, article: str | None = None,
                 examples: Sequence[Any] | None = None, concurrency_limit: int | None = 1,
                 submit_label: str = "Submit") -> None:
        if not callable(fn):
            raise InterfaceConfigError(f"Interface needs a function (or pipeline) to call, got {type(fn).__name__}")
        self.fn = fn
        self.input_components = _as_components(inputs, "input")
        self.output_components = _as_components(outputs, "output")
        if not self.output_components:
            raise InterfaceConfigError("Interface needs at least one output component (e.g. outputs='text')")
        _check_arity(fn, len(self.input_components))
        _fill_default_labels(fn, self.input_components, self.output_components)
        self.title = title
        self.description = description
        self.article = article
        self.submit_label = submit_label
        self.examples = self._check_examples(examples)
        self._slots = _concurrency_gate(concurrency_limit)
        self._server: BackgroundServer | None = None
        self.local_url: str | None = None

    # ---- running the function ------------------------------------------------------------------------------------
    def _check_examples(self, examples: Sequence[Any] | None) -> list[list[Any]]:
        if examples is None:
            return []
        if isinstance(examples, str) or not isinstance(examples, Sequence):
            raise InterfaceConfigError(f"examples must be a list of rows (one value per input), got {examples!r}")
        single = len(self.input_components) == 1

        def as_row(row: Any) -> list[Any]:  # with one input, ["a", "b"] and [["a"], ["b"]] both work
            if isinstance(row, list | tuple) and (len(row) == 1 or not single):
                return list(row)
            return [row]

        rows = [as_row(row) for row in examples]
        for i, row in enumerate(rows):
            try:
                self.preprocess(row)
            except InputValidationError as exc:
                raise InterfaceConfigError(f"example {i + 1} {row!r} does not fit the inputs: {exc}") from None
        return rows

    def preprocess(self, data: Any) -> list[Any]:
        """The API's ``data`` list -> the function's arguments, each checked by its component."""
        if not isinstance(data, list):
            raise InputValidationError(f'"data" must be a list with one value per input, got {type(data).__name__}')
        if len(data) != len(self.input_components):
            names = ", ".join(c.describe() for c in self.input_components) or "none"
            raise InputValidationError(
                f"expected {len(self.input_components)} input value(s) ({names}), got {len(data)}")
        args = []
        for i, (component, payload) in enumerate(zip(self.input_components, data)):
            try:
                args.append(component.preprocess(payload))
            except InputValidationError as exc:
                raise InputValidationError(f"input {i + 1} ({component.describe()}): {exc}") from None
        return args

    def postprocess(self, result: Any) -> list[Any]:
        """The function's return value -> the API's ``data`` list, one JSON value per output."""
        outputs = self.output_components
        if len(outputs) == 1:
            values = [result]
        elif isinstance(result, tuple | list) and len(result) == len(outputs):
            values = list(result)
        else:
            raise TypeError(f"the function must return {len(outputs)} values (a tuple, one per output), "
                            f"got {type(result).__name__}")
        data = []
        for i, (component, value) in enumerate(zip(outputs, values)):
            try:
                data.append(component.postprocess(value))
            except TypeError as exc:
                raise TypeError(f"output {i + 1} ({component.describe()}): {exc}") from None
        return data

    @property
    def streaming(self) -> bool:
        """True when ``fn`` is a generator function: each value it yields updates the outputs."""
        call = self.fn if inspect.isroutine(self.fn) else type(self.fn).__call__  # a callable object's method
        return inspect.isgeneratorfunction(call)

    def stream(self, data: list[Any]) -> Generator[list[Any], None, None]:
        """The outputs after each step: one item for a plain function, one per ``yield`` for a generator function.
        Inputs are checked before the first step; the concurrency slot is held until the last one."""
        args = self.preprocess(data)
        with self._slots if self._slots is not None else nullcontext():
            if not self.streaming:
                yield self.postprocess(self.fn(*args))
                return
            produced = False
            for value in self.fn(*args):
                produced = True
                yield self.postprocess(value)
            if not produced:
                raise TypeError("the generator function yielded nothing: yield at least one output value")

    def predict(self, data: list[Any]) -> list[Any]:
        """Run the interface once as the web API does: checked inputs -> ``fn`` -> JSON-ready outputs (for a
        generator function, the outputs after its last ``yield``)."""
        last: list[Any] = []
        for last in self.stream(data):  # noqa: B007  (the last outputs are the result)
            pass
        return last

    # ---- the page and the API ------------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """What the page draws (served at ``GET /api/config``)."""
        return {"title": self.title, "description": self.description, "article": self.article,
                "submit_label": self.submit_label,
                "inputs": [c.config() for c in self.input_components],
                "outputs": [c.config() for c in self.output_components],
                "examples": self.examples, "stream": self.streaming}

    def create_app(self) -> FastAPI:
        """The FastAPI app: ``GET /`` (the page), ``GET /api/config``, ``POST /api/predict``, ``POST /api/stream``,
        ``/static/*``."""
        from embrace.ui.app import create_app

        return create_app(self)

    # ---- serving ---------------------------------------------------------------------------------------------------
    def queue(self, default_concurrency_limit: int | None = 1, **_: Any) -> Interface:
        """Gradio's ``demo.queue().launch()`` idiom: sets how many calls run at once (requests beyond it wait)
        and returns the interface. Other Gradio queue options have no effect here."""
        self._slots = _concurrency_gate(default_concurrency_limit)
        return self

    def launch(self, server_name: str | None = None, server_port: int | None = None, *, block: bool = True,
               quiet: bool = False, inbrowser: bool = False, share: bool = False,
               prevent_thread_lock: bool | None = None) -> str:
        """Serve the page on ``http://server_name:server_port`` and return its URL.

        ``server_name``: the address to listen on (default ``127.0.0.1``, or ``$GRADIO_SERVER_NAME``; ``0.0.0.0``
        for every interface). ``server_port``: default ``$GRADIO_SERVER_PORT``, else the first free port from 7860;
        0 picks any free port. ``block=True`` serves until Ctrl-C; ``block=False`` returns at once and
        :meth:`close` stops the server (Gradio's ``prevent_thread_lock=True`` means ``block=False``).
        ``inbrowser=True`` opens the page in the default browser. Public share
        links (``share=True``) are not offered: serve on ``0.0.0.0`` behind your own proxy or tunnel instead.
        """
        from embrace.ui.server import BackgroundServer

        if prevent_thread_lock is not None:
            block = not prevent_thread_lock
        if share:
            raise InterfaceConfigError("share=True (a public link through Gradio's relay) is not supported: use "
                                       "launch(server_name='0.0.0.0') and your own proxy or tunnel")

        if self._server is not None and self._server.running:
            raise InterfaceConfigError(f"this Interface is already running at {self.local_url}: call close() first")
        host = server_name or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
        if server_port is None and os.environ.get("GRADIO_SERVER_PORT"):
            server_port = int(os.environ["GRADIO_SERVER_PORT"])
        server = self._server = BackgroundServer(self.create_app(), host, server_port).start()
        self.local_url = server.url
        if not quiet:
            print(f"Running on {server.url}" + ("  (Ctrl-C to stop)" if block else ""), flush=True)
        if inbrowser:
            import webbrowser

            webbrowser.open(server.url)
        if block:
            server.wait()
            self.close()
        return server.url

    def close(self) -> None:
        """Stop the server started by :meth:`launch` (nothing happens if none is running)."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def server_port(self) -> int | None:
        return self._server.port if self._server is not None else None

    def __enter__(self) -> Interface:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def from_pipeline(cls, pipe: Any, **kwargs: Any) -> Interface:
        """An interface for an embrace pipeline, with components chosen from its task (a text box and a label for
        text classification, question + context for question answering, ...). ``kwargs`` go to ``Interface``
        (``title=``, ``examples=``...)."""
        from embrace.ui.pipelines import pipeline_interface_parts

        fn, inputs, outputs, defaults = pipeline_interface_parts(pipe)
        return cls(fn, inputs, outputs, **{**defaults, **kwargs})

    def __repr__(self) -> str:
        ins = ", ".join(map(repr, self.input_components))
        outs = ", ".join(map(repr, self.output_components))
        return f"Interface(fn={getattr(self.fn, '__name__', self.fn)!r}, inputs=[{ins}], outputs=[{outs}])"

