"""Chat templates: render a conversation with the model's Jinja template, as transformers' ``apply_chat_template``.

The template runs in jinja2's immutable sandbox with the reference's extras: ``raise_exception(msg)``,
``strftime_now(fmt)``, a ``tojson`` filter that does not HTML-escape (``json.dumps`` with ``ensure_ascii=False``,
``indent``, ``separators``, ``sort_keys``), the ``loopcontrols`` extension and a ``{% generation %}`` block.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from embrace.tokenizers.errors import TokenizerError

if TYPE_CHECKING:
    from embrace.tokenization import PreTrainedTokenizerFast


class ChatTemplateError(TokenizerError):
    """The template is missing or failed, or the messages are malformed."""


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(f"chat template raised: {message}")


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@lru_cache(maxsize=32)
def compile_template(source: str) -> Any:
    """Compile (and cache) a template in the sandbox; syntax errors become ChatTemplateError."""
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationBlock(Extension):
        """``{% generation %}...{% endgeneration %}`` marks assistant text; rendered as its body."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

        def _render(self, caller: Callable[[], str]) -> str:
            return caller()

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlock, "jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ChatTemplateError(f"the chat template has a syntax error (line {exc.lineno}): {exc.message}") from exc


def _check_messages(messages: Any) -> list[dict[str, Any]]:
    if hasattr(messages, "messages"):
        messages = messages.messages
    if not isinstance(messages, (list, tuple)):
        raise ChatTemplateError(f"a conversation must be a list of message dicts, got {type(messages).__name__}")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise ChatTemplateError(f"message {i} must be a dict with 'role' and 'content', got {type(msg).__name__}")
        if not isinstance(msg.get("role"), str):
            raise ChatTemplateError(f"message {i} needs a string 'role' (system/user/assistant/tool), got {msg!r:.100}")
    return list(messages)


def _pick_template(tokenizer: PreTrainedTokenizerFast, chat_template: str | None, tools: Any) -> str:
    templates = tokenizer.chat_template
    if isinstance(templates, dict):
        if chat_template is not None and chat_template in templates:
            return str(templates[chat_template])
        if chat_template is not None:
            return chat_template
        if tools is not None and "tool_use" in templates:
            return str(templates["tool_use"])
        if "default" in templates:
            return str(templates["default"])
        raise ChatTemplateError(f"this tokenizer has named chat templates {sorted(templates)}; pass chat_template=NAME")
    if chat_template is not None:
        return chat_template
    if templates is None:
        raise ChatTemplateError(
            "this tokenizer has no chat template (no chat_template.jinja or tokenizer_config.json 'chat_template'); "
            "pass chat_template='...' or set tokenizer.chat_template"
        )
    return str(templates)


_ARG_LINE = re.compile(r"^\s*(\w+)(?:\s*\([^)]*\))?\s*:\s*(.+)$")
_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", list: "array", dict: "object"}


def get_json_schema(func: Callable[..., Any]) -> dict[str, Any]:
    """A tool schema from a function's signature and Google-style docstring (as transformers builds it)."""
    doc = inspect.getdoc(func)
    if not doc:
        raise ChatTemplateError(f"tool {func.__name__} needs a docstring describing it and its arguments")
    description, _, rest = doc.partition("\n\n")
    arg_docs: dict[str, str] = {}
    in_args = False
    for line in rest.splitlines():
        if line.strip() in ("Args:", "Arguments:"):
            in_args = True
            continue
        if in_args and line.strip().endswith(":") and not line.startswith(" "):
            in_args = False
        m = _ARG_LINE.match(line) if in_args else None
        if m:
            arg_docs[m.group(1)] = m.group(2).strip()
    properties: dict[str, Any] = {}
    required = []
    hints = inspect.get_annotations(func, eval_str=True)
    for name, param in inspect.signature(func).parameters.items():
        json_type = _JSON_TYPES.get(hints.get(name), "string")  # type: ignore[arg-type]
        properties[name] = {"type": json_type, "description": arg_docs.get(name, "")}
        if param.default is inspect.Parameter.empty:
            required.append(name)
    params: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        params["required"] = required
    return {"type": "function",
            "function": {"name": func.__name__, "description": description.strip(), "parameters": params}}


def render_chat(
    tokenizer: PreTrainedTokenizerFast,
    conversation: Any,
    tools: Any = None,
    documents: Any = None,
    chat_template: str | None = None,
    add_generation_prompt: bool = False,
    continue_final_message: bool = False,
    **template_kwargs: Any,
) -> str:
    """Render one conversation to the prompt string."""
    import jinja2

    if add_generation_prompt and continue_final_message:
        raise ChatTemplateError("add_generation_prompt and continue_final_message cannot both be set")
    messages = _check_messages(conversation)
    tool_schemas = None
    if tools is not None:
        tool_schemas = [t if isinstance(t, dict) else get_json_schema(t) for t in tools]
    template = compile_template(_pick_template(tokenizer, chat_template, tools))
    variables = {**tokenizer.special_tokens_map, **template_kwargs}
    try:
        rendered: str = template.render(
            messages=messages, tools=tool_schemas, documents=documents,
            add_generation_prompt=add_generation_prompt, **variables,
        )
    except ChatTemplateError:
        raise
    except jinja2.TemplateError as exc:
        raise ChatTemplateError(f"rendering the chat template failed: {exc}") from exc
    if continue_final_message:
        rendered = _cut_after_final_message(rendered, messages)
    return rendered


def _cut_after_final_message(rendered: str, messages: list[dict[str, Any]]) -> str:
    if not messages:
        raise ChatTemplateError("continue_final_message needs at least one message")
    final = messages[-1].get("content")
    if isinstance(final, list):
        texts = [block["text"] for block in final if isinstance(block, dict) and "text" in block]
        if not texts:
            raise ChatTemplateError("continue_final_message is set but the final message has no text to continue")
        final = texts[-1]
    if not isinstance(final, str) or final.strip() not in rendered:
        raise ChatTemplateError(
            "continue_final_message is set but the final message does not appear in the rendered chat; "
            "the template may rewrite message text"
        )
    loc = rendered.rindex(final.strip())
    if rendered[loc : loc + len(final.lstrip())] == final:
        return rendered[: loc + len(final.lstrip())]
    return rendered[: loc + len(final.strip())]


def apply_chat_template(
    tokenizer: PreTrainedTokenizerFast,
    conversation: Any,
    tools: Any = None,
    documents: Any = None,
    chat_template: str | None = None,
    add_generation_prompt: bool = False,
    continue_final_message: bool = False,
    tokenize: bool = True,
    padding: bool | str = False,
    truncation: bool = False,
    max_length: int | None = None,
    return_tensors: str | None = None,
    return_dict: bool = True,
    return_assistant_tokens_mask: bool = False,
    tokenizer_kwargs: dict[str, Any] | None = None,
    **template_kwargs: Any,
) -> Any:
    """The reference's ``apply_chat_template``: a string when ``tokenize=False``, else a BatchEncoding
    (``return_dict=True``, the transformers 5 default) or the input ids. A list of conversations gives a batch."""
    if return_assistant_tokens_mask:
        raise ChatTemplateError("return_assistant_tokens_mask is not supported by embrace yet")
    batched = isinstance(conversation, (list, tuple)) and bool(conversation) and (
        isinstance(conversation[0], (list, tuple)) or hasattr(conversation[0], "messages")
    )
    conversations = conversation if batched else [conversation]
    rendered = [
        render_chat(tokenizer, c, tools, documents, chat_template, add_generation_prompt, continue_final_message,
                    **template_kwargs)
        for c in conversations
    ]
    if not tokenize:
        return rendered if batched else rendered[0]
    out = tokenizer(
        rendered if batched else rendered[0], padding=padding, truncation=truncation, max_length=max_length,
        add_special_tokens=False, return_tensors=return_tensors, **(tokenizer_kwargs or {}),
    )
    return out if return_dict else out["input_ids"]
