"""Components: what they accept from the web API, what they send back, and the errors for everything else."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embrace.ui import (
    JSON,
    Checkbox,
    Dropdown,
    InputValidationError,
    InterfaceConfigError,
    Label,
    Number,
    Slider,
    Textbox,
)
from embrace.ui.components import component_from, to_jsonable


def test_textbox_takes_only_text_and_checks_max_length() -> None:
    box = Textbox(max_length=5)
    assert box.preprocess("hello") == "hello"
    with pytest.raises(InputValidationError, match="expected text"):
        box.preprocess(3)
    with pytest.raises(InputValidationError, match="6 characters long, the limit is 5"):
        box.preprocess("hello!")
    assert box.postprocess(None) == "" and box.postprocess(4.5) == "4.5"
    assert "<textarea" in Textbox(lines=3, value="<b>").render_input("x")
    assert "&lt;b&gt;" in Textbox(lines=3, value="<b>").render_input("x")  # escaped, never markup


@pytest.mark.parametrize(("precision", "payload", "expected"), [
    (None, 2, 2.0), (None, "2.5", 2.5), (0, 2.6, 3), (2, 1.23456, 1.23), (0, "7", 7)])
def test_number_converts_and_rounds(precision: int | None, payload: object, expected: float) -> None:
    value = Number(precision=precision).preprocess(payload)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(("payload", "message"), [
    (True, "expected a finite number, got bool"), (None, "got nothing"), ("abc", "got the text 'abc'"),
    (float("nan"), "finite"), (11, "above the maximum 10"), (-1, "below the minimum 0")])
def test_number_rejects(payload: object, message: str) -> None:
    with pytest.raises(InputValidationError, match=message):
        Number(minimum=0, maximum=10).preprocess(payload)


def test_number_output_accepts_tensors_and_rejects_text() -> None:
    assert Number().postprocess(torch.tensor(1.5)) == 1.5
    assert Number(precision=0).postprocess(np.float32(2.7)) == 3
    with pytest.raises(TypeError, match="needs a finite number"):
        Number().postprocess("many")


def test_slider_range_and_integer_steps() -> None:
    tokens = Slider(1, 512, 64, step=1)
    assert tokens.preprocess(100) == 100 and isinstance(tokens.preprocess(100.0), int)
    with pytest.raises(InputValidationError, match="outside the slider's range"):
        tokens.preprocess(513)
    with pytest.raises(InputValidationError, match="whole number"):
        tokens.preprocess(2.5)
    temperature = Slider(0.0, 2.0, 0.7, step=0.1)
    assert temperature.preprocess(1) == 1.0 and isinstance(temperature.preprocess(1), float)
    assert Slider().value == 0  # value defaults to the minimum
    with pytest.raises(InterfaceConfigError, match="minimum < maximum"):
        Slider(5, 1)
    with pytest.raises(InterfaceConfigError, match="outside"):
        Slider(0, 1, 3)


def test_dropdown_values_pairs_index_and_multiselect() -> None:
    colours = Dropdown(["red", "green"])
    assert colours.value == "red" and colours.preprocess("green") == "green"
    with pytest.raises(InputValidationError, match=r"'blue' is not one of the choices \['red', 'green'\]"):
        colours.preprocess("blue")
    sizes = Dropdown([("Small", 1), ("Large", 3)], type="index")
    assert sizes.preprocess(3) == 1
    assert sizes.config()["choices"] == [["Small", 1], ["Large", 3]]
    many = Dropdown(["a", "b", "c"], value=["b"], multiselect=True)
    assert many.preprocess(["a", "c"]) == ["a", "c"]
    with pytest.raises(InputValidationError, match="expected a list"):
        many.preprocess("a")
    assert 'multiple' in many.render_input("d") and '<option value="1" selected>b</option>' in many.render_input("d")
    with pytest.raises(InterfaceConfigError, match="not one of the choices"):
        Dropdown(["a"], value="z")
    with pytest.raises(InterfaceConfigError, match="non-empty list"):
        Dropdown("abc")


def test_checkbox_is_strict_boolean() -> None:
    assert Checkbox().preprocess(True) is True
    with pytest.raises(InputValidationError, match="true or false"):
        Checkbox().preprocess("yes")


def test_label_ranks_confidences_and_reads_pipeline_output() -> None:
    label = Label(num_top_classes=2)
    out = label.postprocess({"cat": 0.2, "dog": 0.7, "bird": 0.1})
    assert out == {"label": "dog", "confidences": [{"label": "dog", "confidence": 0.7},
                                                   {"label": "cat", "confidence": 0.2}]}
    from_pipeline = Label().postprocess([{"label": "NEG", "score": 0.4}, {"label": "POS", "score": 0.6}])
    assert from_pipeline["label"] == "POS" and len(from_pipeline["confidences"]) == 2
    assert Label().postprocess("just a name") == {"label": "just a name"}
    assert Label().postprocess({"a": torch.tensor(0.5)})["confidences"][0]["confidence"] == 0.5
    with pytest.raises(TypeError, match="numeric confidences"):
        Label().postprocess({"a": "high"})


def test_json_output_converts_arrays_and_rejects_objects() -> None:
    value = {"v": np.arange(3), "t": torch.ones(2), "pair": (1, 2), 3: np.float64(0.5)}
    assert JSON().postprocess(value) == {"v": [0, 1, 2], "t": [1.0, 1.0], "pair": [1, 2], "3": 0.5}
    with pytest.raises(TypeError, match="cannot be sent as JSON"):
        to_jsonable(object())
    assert JSON().preprocess({"any": ["json"]}) == {"any": ["json"]}


def test_shortcuts_and_classes() -> None:
    assert isinstance(component_from("text"), Textbox)
    assert component_from("textarea").lines == 7
    assert isinstance(component_from("LABEL"), Label)
    assert isinstance(component_from(Number), Number)
    with pytest.raises(InterfaceConfigError, match="Dropdown needs its choices"):
        component_from(Dropdown)
    with pytest.raises(InterfaceConfigError, match="a Dropdown needs its choices"):
        component_from("dropdown")
    with pytest.raises(InterfaceConfigError, match="unknown component 'image'; shortcuts are"):
        component_from("image")
    with pytest.raises(InterfaceConfigError, match="expected a component"):
        component_from(42)
