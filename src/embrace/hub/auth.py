"""Tokens: ``HF_TOKEN``, else the token file (``$HF_HOME/token``) that ``login`` writes, as huggingface_hub does."""

from __future__ import annotations

import contextlib
import os

from embrace.errors import EmbraceError
from embrace.hub.constants import implicit_token_disabled, token_path
from embrace.hub.fsutil import atomic_write_text


class TokenRequiredError(EmbraceError, ValueError):
    """An operation needs a token and none was given, set in HF_TOKEN, or saved with ``embrace hub login``."""


def get_token() -> str | None:
    """The token from ``HF_TOKEN`` (or legacy ``HUGGING_FACE_HUB_TOKEN``), else the saved token file, else None."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    path = token_path()
    with contextlib.suppress(OSError):
        value = path.read_text().strip()
        if value:
            return value
    return None


def resolve_token(token: str | bool | None, *, required: bool = False) -> str | None:
    """Apply the huggingface_hub rules: a string is used as is; ``False`` sends none; ``True`` requires the saved
    one; ``None`` uses the saved one unless ``HF_HUB_DISABLE_IMPLICIT_TOKEN`` is set (writes always may)."""
    if isinstance(token, str):
        return token
    if token is False:
        resolved = None
    elif token is True or required or not implicit_token_disabled():
        resolved = get_token()
    else:
        resolved = None
    if resolved is None and (token is True or required):
        raise TokenRequiredError(
            "This hub operation needs a token: pass token=..., set HF_TOKEN, or run `embrace hub login`."
        )
    return resolved


def login(token: str, *, endpoint: str | None = None, verify: bool = True) -> dict[str, object] | None:
    """Save ``token`` to the token file (atomically, mode 0600). With ``verify`` the token is first checked with
    ``whoami`` against the endpoint, and the user info is returned."""
    token = token.strip()
    if not token:
        raise TokenRequiredError("login() needs a non-empty token.")
    info = None
    if verify:
        from embrace.hub.api import HfApi

        info = HfApi(endpoint=endpoint).whoami(token=token)
    path = token_path()
    atomic_write_text(path, token)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return info


def logout() -> None:
    """Forget the saved token (``HF_TOKEN`` in the environment is not touched)."""
    with contextlib.suppress(FileNotFoundError):
        token_path().unlink()
