"""The components of an :class:`~embrace.ui.Interface`: each one is a form field (input) and/or a display (output).

A component does three things:

- ``preprocess(payload)``: a JSON value from the web API -> the argument the user's function gets. It checks the
  value and raises :class:`~embrace.ui.errors.InputValidationError` with a message that says what was expected.
- ``postprocess(value)``: what the function returned -> a JSON value for the page.
- ``config()`` and ``render_input(element_id)``: what the page needs to draw it.

Names and arguments follow Gradio's (``Textbox(lines=3, placeholder=...)``, ``Slider(minimum, maximum, step)``,
``Dropdown(choices)``, ``Label(num_top_classes=3)``...), and the string shortcuts ``"text"``, ``"number"``,
``"json"``, ``"label"``... build a component with its defaults.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from embrace.ui.errors import InputValidationError, InterfaceConfigError

__all__ = ["Component", "Textbox", "Number", "Slider", "Dropdown", "Checkbox", "Label", "JSON", "component_from",
           "SHORTCUTS"]


class Component:
    """Base class: a labelled value with checks on the way in and a JSON form on the way out."""

    kind: ClassVar[str] = ""
    can_input: ClassVar[bool] = True

    def __init__(self, value: Any = None, *, label: str | None = None, info: str | None = None) -> None:
        self.value = value
        self.label = label
        self.info = info

    def preprocess(self, payload: Any) -> Any:
        """A JSON value sent by the page or an API client -> the function's argument."""
        return payload

    def postprocess(self, value: Any) -> Any:
        """The function's return value -> a JSON value for the page."""
        return to_jsonable(value)

    def config(self) -> dict[str, Any]:
        """Everything the page needs to draw this component (also served at ``GET /api/config``)."""
        return {"kind": self.kind, "label": self.label, "info": self.info, "value": self.initial_value()}

    def initial_value(self) -> Any:
        return to_jsonable(self.value)

    def render_input(self, element_id: str) -> str:
        """The HTML form field for this component as an input (a ``data-kind`` attribute tells the page script
        how to read it)."""
        raise NotImplementedError

    def describe(self) -> str:
        """``Textbox 'Name'`` for error messages."""
        return f"{type(self).__name__} {self.label!r}" if self.label else type(self).__name__

    def __repr__(self) -> str:
        return f"{type(self).__name__}(label={self.label!r})"


def _attr(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _is_real_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _as_number(payload: Any) -> float | int:
    """A JSON number, or a string holding one (HTML number fields send text); never bool, NaN or infinity."""
    if isinstance(payload, str):
        try:
            payload = float(payload) if any(c in payload for c in ".eE") else int(payload)
        except ValueError:
            raise InputValidationError(f"expected a number, got the text {payload!r}") from None
    if not _is_real_number(payload):
        shown = "nothing" if payload is None else f"{type(payload).__name__} {payload!r}"
        raise InputValidationError(f"expected a finite number, got {shown}")
    return payload


class Textbox(Component):
    """Text in, text out. ``lines`` > 1 draws a text area; ``max_length`` limits the characters an input takes;
    ``type="password"`` hides what is typed."""

    kind = "textbox"

    def __init__(self, value: str = "", *, label: str | None = None, info: str | None = None, lines: int = 1,
                 placeholder: str | None = None, max_length: int | None = None, type: str = "text") -> None:
        super().__init__(value, label=label, info=info)
        if not isinstance(lines, int) or lines < 1:
            raise InterfaceConfigError(f"Textbox: lines must be an integer >= 1, got {lines!r}")
        if type not in ("text", "password", "email"):
            raise InterfaceConfigError(f"Textbox: type must be 'text', 'password' or 'email', got {type!r}")
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise InterfaceConfigError(f"Textbox: max_length must be an integer >= 1, got {max_length!r}")
        self.lines, self.placeholder, self.max_length, self.type = lines, placeholder, max_length, type

    def preprocess(self, payload: Any) -> str:
        if not isinstance(payload, str):
            raise InputValidationError(f"expected text (a JSON string), got {type(payload).__name__} {payload!r}")
        if self.max_length is not None and len(payload) > self.max_length:
            raise InputValidationError(f"text is {len(payload)} characters long, the limit is {self.max_length}")
        return payload

    def postprocess(self, value: Any) -> str:
        return "" if value is None else str(value)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "lines": self.lines, "placeholder": self.placeholder,
                "max_length": self.max_length, "type": self.type}

    def render_input(self, element_id: str) -> str:
        common = f'id="{element_id}" data-kind="textbox"'
        if self.placeholder:
            common += f' placeholder="{_attr(self.placeholder)}"'
        if self.max_length:
            common += f' maxlength="{self.max_length}"'
        if self.lines > 1:
            return f'<textarea {common} rows="{self.lines}">{html.escape(self.value or "")}</textarea>'
        return f'<input {common} type="{self.type}" value="{_attr(self.value or "")}">'


class Number(Component):
    """A number field. ``precision=0`` gives the function an ``int``; otherwise a ``float`` rounded to
    ``precision`` decimals (None: not rounded). ``minimum``/``maximum`` are checked."""

    kind = "number"

    def __init__(self, value: float | None = None, *, label: str | None = None, info: str | None = None,
                 minimum: float | None = None, maximum: float | None = None, precision: int | None = None) -> None:
        super().__init__(value, label=label, info=info)
        if minimum is not None and maximum is not None and minimum > maximum:
            raise InterfaceConfigError(f"Number: minimum {minimum} is above maximum {maximum}")
        if precision is not None and (not isinstance(precision, int) or precision < 0):
            raise InterfaceConfigError(f"Number: precision must be an integer >= 0 or None, got {precision!r}")
        self.minimum, self.maximum, self.precision = minimum, maximum, precision

    def _round(self, number: float) -> float | int:
        if self.precision is None:
            return float(number)
        return int(round(number)) if self.precision == 0 else round(float(number), self.precision)

    def preprocess(self, payload: Any) -> float | int:
        number = _as_number(payload)
        if self.minimum is not None and number < self.minimum:
            raise InputValidationError(f"{number} is below the minimum {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise InputValidationError(f"{number} is above the maximum {self.maximum}")
        return self._round(number)

    def postprocess(self, value: Any) -> float | int | None:
        if value is None:
            return None
        if hasattr(value, "item"):  # numpy / torch scalars
            value = value.item()
        if not _is_real_number(value):
            raise TypeError(f"a Number output needs a finite number, the function returned {value!r}")
        return self._round(value)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "minimum": self.minimum, "maximum": self.maximum, "precision": self.precision}

    def render_input(self, element_id: str) -> str:
        # step "any" so the browser accepts every value; the server rounds to `precision`
        attrs = f'id="{element_id}" data-kind="number" type="number" step="{1 if self.precision == 0 else "any"}"'
        if self.minimum is not None:
            attrs += f' min="{self.minimum}"'
        if self.maximum is not None:
            attrs += f' max="{self.maximum}"'
        value = "" if self.value is None else _attr(self.value)
        return f'<input {attrs} value="{value}">'


class Slider(Component):
    """A number between ``minimum`` and ``maximum`` in steps of ``step``. The function gets an ``int`` when
    minimum, maximum and step are all integers (``Slider(1, 512, step=1)`` for a token count), else a float."""

    kind = "slider"

    def __init__(self, minimum: float = 0, maximum: float = 100, value: float | None = None, *, step: float = 1,
                 label: str | None = None, info: str | None = None) -> None:
        if not (_is_real_number(minimum) and _is_real_number(maximum)) or minimum >= maximum:
            raise InterfaceConfigError(f"Slider: needs numbers minimum < maximum, got {minimum!r}, {maximum!r}")
        if not _is_real_number(step) or step <= 0:
            raise InterfaceConfigError(f"Slider: step must be a number > 0, got {step!r}")
        value = minimum if value is None else value
        if not _is_real_number(value) or not minimum <= value <= maximum:
            raise InterfaceConfigError(f"Slider: value {value!r} is outside [{minimum}, {maximum}]")
        super().__init__(value, label=label, info=info)
        self.minimum, self.maximum, self.step = minimum, maximum, step
        self.integral = all(isinstance(x, int) for x in (minimum, maximum, step))

    def preprocess(self, payload: Any) -> float | int:
        number = _as_number(payload)
        if not self.minimum <= number <= self.maximum:
            raise InputValidationError(f"{number} is outside the slider's range [{self.minimum}, {self.maximum}]")
        if self.integral:
            if number != int(number):
                raise InputValidationError(f"expected a whole number (step {self.step}), got {number}")
            return int(number)
        return float(number)

    def postprocess(self, value: Any) -> float | int:
        if hasattr(value, "item"):
            value = value.item()
        if not _is_real_number(value):
            raise TypeError(f"a Slider output needs a finite number, the function returned {value!r}")
        return value

    def config(self) -> dict[str, Any]:
        return {**super().config(), "minimum": self.minimum, "maximum": self.maximum, "step": self.step}

    def render_input(self, element_id: str) -> str:
        return (f'<div class="slider"><input id="{element_id}" data-kind="slider" type="range" min="{self.minimum}" '
                f'max="{self.maximum}" step="{self.step}" value="{self.value}">'
                f'<output for="{element_id}">{self.value}</output></div>')


class Dropdown(Component):
    """One of ``choices`` (or several with ``multiselect=True``). A choice is a value or a ``(label, value)`` pair.
    ``type="index"`` gives the function the position of the choice instead of its value."""

    kind = "dropdown"

    def __init__(self, choices: Sequence[Any], value: Any = None, *, label: str | None = None,
                 info: str | None = None, multiselect: bool = False, type: str = "value") -> None:
        if isinstance(choices, str) or not isinstance(choices, Sequence) or not choices:
            raise InterfaceConfigError(f"Dropdown: choices must be a non-empty list, got {choices!r}")
        if type not in ("value", "index"):
            raise InterfaceConfigError(f"Dropdown: type must be 'value' or 'index', got {type!r}")
        self.choices: list[tuple[str, Any]] = [
            (str(c[0]), c[1]) if isinstance(c, tuple) and len(c) == 2 else (str(c), c) for c in choices]
        self.values = [v for _, v in self.choices]
        if multiselect:
            value = [] if value is None else list(value)
            bad = [v for v in value if v not in self.values]
        else:
            value = self.values[0] if value is None else value
            bad = [] if value in self.values else [value]
        if bad:
            raise InterfaceConfigError(f"Dropdown: default value {bad[0]!r} is not one of the choices {self.values}")
        super().__init__(value, label=label, info=info)
        self.multiselect, self.type = multiselect, type

    def _pick(self, item: Any) -> Any:
        if item not in self.values:
            raise InputValidationError(f"{item!r} is not one of the choices {self.values}")
        return self.values.index(item) if self.type == "index" else item

    def preprocess(self, payload: Any) -> Any:
        if self.multiselect:
            if not isinstance(payload, list):
                raise InputValidationError(f"expected a list of choices, got {type(payload).__name__} {payload!r}")
            return [self._pick(item) for item in payload]
        return self._pick(payload)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "choices": [[name, to_jsonable(v)] for name, v in self.choices],
                "multiselect": self.multiselect}

    def render_input(self, element_id: str) -> str:
        selected = self.value if self.multiselect else [self.value]
        options = "".join(
            f'<option value="{i}"{" selected" if v in selected else ""}>{html.escape(name)}</option>'
            for i, (name, v) in enumerate(self.choices))
        multiple = " multiple" if self.multiselect else ""
        return f'<select id="{element_id}" data-kind="dropdown"{multiple}>{options}</select>'


class Checkbox(Component):
    """True or false."""

    kind = "checkbox"

    def __init__(self, value: bool = False, *, label: str | None = None, info: str | None = None) -> None:
        super().__init__(bool(value), label=label, info=info)

    def preprocess(self, payload: Any) -> bool:
        if not isinstance(payload, bool):
            raise InputValidationError(f"expected true or false, got {type(payload).__name__} {payload!r}")
        return payload

    def postprocess(self, value: Any) -> bool:
        return bool(value)

    def render_input(self, element_id: str) -> str:
        return f'<input id="{element_id}" data-kind="checkbox" type="checkbox"{" checked" if self.value else ""}>'


class Label(Component):
    """A classification result (output only): a ``{label: confidence}`` dict shows the top labels with bars,
    best first (``num_top_classes`` of them); a list of ``{"label", "score"}`` dicts (what classification
    pipelines return) works too; any other value is shown as the label."""

    kind = "label"
    can_input = False

    def __init__(self, value: Any = None, *, label: str | None = None, info: str | None = None,
                 num_top_classes: int | None = None) -> None:
        super().__init__(value, label=label, info=info)
        if num_top_classes is not None and (not isinstance(num_top_classes, int) or num_top_classes < 1):
            raise InterfaceConfigError(f"Label: num_top_classes must be an integer >= 1, got {num_top_classes!r}")
        self.num_top_classes = num_top_classes

    def postprocess(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if isinstance(value, list) and all(isinstance(v, Mapping) and "label" in v and "score" in v for v in value):
            value = {str(v["label"]): v["score"] for v in value}
        if not isinstance(value, Mapping):
            return {"label": str(to_jsonable(value))}
        ranked: list[tuple[str, float]] = []
        for name, confidence in value.items():
            confidence = confidence.item() if hasattr(confidence, "item") else confidence
            if not _is_real_number(confidence):
                raise TypeError(f"a Label output needs numeric confidences, got {confidence!r} for {name!r}")
            ranked.append((str(name), float(confidence)))
        ranked.sort(key=lambda pair: pair[1], reverse=True)
        top = ranked[: self.num_top_classes] if self.num_top_classes else ranked
        return {"label": top[0][0] if top else None,
                "confidences": [{"label": name, "confidence": confidence} for name, confidence in top]}

    def initial_value(self) -> Any:
        return self.postprocess(self.value)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "num_top_classes": self.num_top_classes}


class JSON(Component):
    """Any JSON value. As an input the page shows a text area that must hold valid JSON; as an output the value
    is pretty-printed (numpy arrays and tensors become lists)."""

    kind = "json"

    def render_input(self, element_id: str) -> str:
        text = "" if self.value is None else json.dumps(to_jsonable(self.value), indent=2)
        return f'<textarea id="{element_id}" data-kind="json" rows="6" spellcheck="false">{html.escape(text)}</textarea>'


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy arrays/scalars and torch tensors turned into lists and numbers, tuples into lists,
    mapping keys into strings; raises ``TypeError`` for anything JSON cannot hold."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{value} cannot be sent as JSON")
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays/scalars, torch tensors
        if hasattr(value, "detach"):
            value = value.detach().cpu()
        return to_jsonable(value.tolist())
    raise TypeError(f"a value of type {type(value).__name__} cannot be sent as JSON: return lists, dicts, "
                    "strings and numbers")


SHORTCUTS: dict[str, Any] = {
    "text": Textbox, "textbox": Textbox, "textarea": lambda: Textbox(lines=7),
    "number": Number, "slider": Slider, "checkbox": Checkbox, "label": Label, "json": JSON,
}


def component_from(spec: Any) -> Component:
    """A component from an instance, a component class, or a shortcut name (``"text"``, ``"number"``, ...)."""
    if isinstance(spec, Component):
        return spec
    if isinstance(spec, type) and issubclass(spec, Component):
        if spec is Dropdown:
            raise InterfaceConfigError("Dropdown needs its choices: use Dropdown(['a', 'b'])")
        return spec()
    if isinstance(spec, str):
        factory = SHORTCUTS.get(spec.lower())
        if factory is None:
            hint = " (a Dropdown needs its choices: Dropdown([...]))" if spec.lower() == "dropdown" else ""
            raise InterfaceConfigError(
                f"unknown component {spec!r}{hint}; shortcuts are {', '.join(sorted(SHORTCUTS))}")
        component: Component = factory()
        return component
    raise InterfaceConfigError(f"expected a component (Textbox(), 'text', ...), got {type(spec).__name__} {spec!r}")
