"""Web demos in a few lines, in the spirit of Gradio: ``Interface(fn, inputs, outputs).launch()``.

>>> from embrace.ui import Interface
>>> Interface(lambda text: text[::-1], "text", "text", title="Reverse").launch()

Components: :class:`Textbox`, :class:`Number`, :class:`Slider`, :class:`Dropdown`, :class:`Checkbox`,
:class:`Label` (classification results), :class:`JSON`; or the shortcuts ``"text"``, ``"textarea"``,
``"number"``, ``"slider"``, ``"checkbox"``, ``"label"``, ``"json"``. ``Interface.from_pipeline(pipe)`` picks them
for an embrace pipeline. Importing this module is cheap: FastAPI and uvicorn load when a page is served.
"""

from embrace.ui.components import JSON, Checkbox, Component, Dropdown, Label, Number, Slider, Textbox
from embrace.ui.errors import InputValidationError, InterfaceConfigError, LaunchError, WebDependencyError
from embrace.ui.interface import Interface

Text = Textbox  # gradio.Text is an alias of gradio.Textbox too

__all__ = ["Interface", "Component", "Textbox", "Text", "Number", "Slider", "Dropdown", "Checkbox", "Label", "JSON",
           "InterfaceConfigError", "InputValidationError", "LaunchError", "WebDependencyError"]
