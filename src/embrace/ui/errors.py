"""Errors of :mod:`embrace.ui`: a bad ``Interface`` definition, a bad request to its API, a port that cannot be used."""

from __future__ import annotations

from embrace.errors import EmbraceError


class InterfaceConfigError(EmbraceError, ValueError):
    """An ``Interface`` or component was built with arguments that cannot work (unknown component name, an
    output-only component used as an input, examples that do not match the inputs, a function with too few
    parameters)."""


class InputValidationError(EmbraceError, ValueError):
    """A value sent to the interface's API does not fit its component (wrong type, out of range, not a choice).
    The web API answers it with HTTP 422 and this message."""


class LaunchError(EmbraceError, OSError):
    """The web server could not start (the port is taken, the address cannot be bound)."""


class WebDependencyError(EmbraceError, ImportError):
    """FastAPI or uvicorn, which serve the pages, are not installed."""


def require_web_stack() -> None:
    """Raise :class:`WebDependencyError` with the install command when FastAPI or uvicorn is missing."""
    import importlib.util

    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise WebDependencyError(f"serving a web page needs {' and '.join(missing)}: pip install 'embrace[serve]'")
