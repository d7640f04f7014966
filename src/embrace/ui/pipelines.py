"""``Interface.from_pipeline``: the components and the calling function for each pipeline task.

A task maps to inputs the user fills (text, a question and its context, candidate labels, a token budget) and
outputs that show the result well (a :class:`Label` with confidence bars for classification, JSON for entities and
vectors). An input the pipeline rejects (``PipelineInputError``, e.g. fill-mask text without the mask token)
becomes an :class:`InputValidationError`, so the page shows the pipeline's message and the API answers 422.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any

from embrace.ui.components import JSON, Component, Label, Number, Slider, Textbox
from embrace.ui.errors import InputValidationError, InterfaceConfigError

SEQ2SEQ_OUTPUT_KEYS = {"summarization": "summary_text", "translation": "translation_text",
                       "text2text-generation": "generated_text"}
Parts = tuple[Callable[..., Any], list[Component], list[Component], dict[str, Any]]


def _scores(labels: list[Any], scores: list[Any]) -> dict[str, float]:
    return {str(label): float(score) for label, score in zip(labels, scores)}


def _split_labels(text: str) -> list[str]:
    labels = [part.strip() for part in text.split(",") if part.strip()]
    if not labels:
        raise InputValidationError("give at least one candidate label (comma-separated)")
    return labels


def _parts(pipe: Any, task: str) -> Parts:
    text = Textbox(label="Text", lines=3)
    if task == "text-classification":
        # every label's {"label", "score"}: the Label output draws the best five with bars
        return (lambda t: pipe(t, top_k=None), [text], [Label(label="Classification", num_top_classes=5)], {})
    if task == "token-classification":
        return (lambda t: pipe(t), [text], [JSON(label="Entities")], {})
    if task == "question-answering":
        def answer(question: str, context: str) -> tuple[str, float]:
            result = pipe(question=question, context=context)
            return result["answer"], float(result["score"])
        return (answer, [Textbox(label="Question"), Textbox(label="Context", lines=6)],
                [Textbox(label="Answer"), Number(label="Score")], {})
    if task == "fill-mask":
        mask = getattr(getattr(pipe, "tokenizer", None), "mask_token", None) or "<mask>"

        def fill(t: str) -> dict[str, float]:
            predictions = pipe(t)
            if predictions and isinstance(predictions[0], list):  # several masks: show the first one's
                predictions = predictions[0]
            return {p["token_str"]: float(p["score"]) for p in predictions}
        return (fill, [Textbox(label=f"Text with {mask}", placeholder=f"Paris is the {mask} of France.")],
                [Label(label="Predictions")], {})
    if task == "zero-shot-classification":
        def classify(t: str, labels: str) -> dict[str, float]:
            result = pipe(t, candidate_labels=_split_labels(labels))
            return _scores(result["labels"], result["scores"])
        return (classify, [text, Textbox(label="Candidate labels (comma-separated)")], [Label(label="Labels")], {})
    if task == "feature-extraction":
        return (lambda t: pipe(t), [text], [JSON(label="Features")], {})
    if task == "sentence-similarity":
        def similarity(source: str, others: str) -> dict[str, float]:
            sentences = [line.strip() for line in others.splitlines() if line.strip()]
            if not sentences:
                raise InputValidationError("give at least one sentence to compare (one per line)")
            return _scores(sentences, pipe({"source_sentence": source, "sentences": sentences}))
        return (similarity, [Textbox(label="Source sentence"), Textbox(label="Sentences to compare (one per line)",
                                                                       lines=5)], [Label(label="Similarity")], {})
    if task == "text-generation":
        def generate(prompt: str, max_new_tokens: int) -> Iterator[str]:
            yield from _stream_generation(pipe, prompt, max_new_tokens)
        return (generate, [Textbox(label="Prompt", lines=4), Slider(1, 512, 64, step=1, label="Max new tokens")],
                [Textbox(label="Generated text", lines=8)], {})
    if task in SEQ2SEQ_OUTPUT_KEYS:
        key = SEQ2SEQ_OUTPUT_KEYS[task]

        def transform(t: str, max_new_tokens: int) -> str:
            return str(pipe(t, max_new_tokens=max_new_tokens)[0][key])
        return (transform, [Textbox(label="Text", lines=6), Slider(1, 512, 64, step=1, label="Max new tokens")],
                [Textbox(label=key.split("_")[0].capitalize(), lines=6)], {})
    raise InterfaceConfigError(f"Interface.from_pipeline does not know the task {task!r}: build the Interface "
                               "yourself with Interface(fn, inputs, outputs)")


def _stream_generation(pipe: Any, prompt: str, max_new_tokens: int) -> Iterator[str]:
    """The prompt plus the text generated so far, after each new piece; last, exactly what the pipeline returns.
    The pipeline runs in a thread feeding a ``TextIteratorStreamer``; its errors are raised here."""
    from embrace.generation.streamers import TextIteratorStreamer

    streamer = TextIteratorStreamer(pipe.tokenizer, skip_prompt=True, skip_special_tokens=True)
    result: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(pipe(prompt, max_new_tokens=max_new_tokens, streamer=streamer))
        except BaseException as exc:  # re-raised in the consumer below
            failure.append(exc)
            streamer.text_queue.put(None)  # ends the iteration

    worker = threading.Thread(target=run, name="embrace-ui-generate", daemon=True)
    worker.start()
    text = prompt
    for piece in streamer:
        text += piece
        yield text
    worker.join()
    if failure:
        raise failure[0]
    yield str(result[0][0]["generated_text"])


def pipeline_interface_parts(pipe: Any) -> Parts:
    """``(fn, inputs, outputs, interface_defaults)`` for ``pipe`` (an embrace ``Pipeline``)."""
    task = getattr(pipe, "task", None)
    if not task or not callable(pipe):
        raise InterfaceConfigError(f"Interface.from_pipeline needs an embrace pipeline (pipeline('task', ...)), "
                                   f"got {type(pipe).__name__}")
    from embrace.pipelines.errors import PipelineInputError

    fn, inputs, outputs, defaults = _parts(pipe, task)

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except PipelineInputError as exc:
            raise InputValidationError(str(exc)) from None

    def call_streaming(*args: Any) -> Iterator[Any]:
        try:
            yield from fn(*args)
        except PipelineInputError as exc:
            raise InputValidationError(str(exc)) from None

    wrapped = call_streaming if inspect.isgeneratorfunction(fn) else call  # streaming functions stay generators
    wrapped.__name__ = task.replace("-", "_")
    model_name = getattr(getattr(getattr(pipe, "model", None), "config", None), "_name_or_path", None)
    title = task.replace("-", " ").capitalize() + (f" · {model_name}" if model_name else "")
    return wrapped, inputs, outputs, {"title": title, **defaults}
