"""apply_chat_template against transformers on ChatML, Llama-3-style (tools) and Mistral-style templates."""

from __future__ import annotations

import pytest
from tests.conftest import asset

transformers = pytest.importorskip("transformers")

from embrace.chat_template import ChatTemplateError  # noqa: E402
from embrace.tokenization import AutoTokenizer, BatchEncoding  # noqa: E402

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3_TOOLS = """{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" if date_string is defined else "" }}
{%- if tools is not none %}
    {{- "You have access to these functions:\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- if message.role == 'tool' %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" + message.content | tojson + "<|eot_id|>" }}
    {%- elif message.tool_calls is defined %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
        {%- for call in message.tool_calls %}
            {{- '{"name": "' + call.function.name + '", "parameters": ' + call.function.arguments | tojson + '}' }}
        {%- endfor %}
        {{- "<|eot_id|>" }}
    {%- else %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}"
    "{% endif %}{% endfor %}"
)

CHAT = [
    {"role": "system", "content": "You are terse. Ünïcödé → ok."},
    {"role": "user", "content": "Hi <b>there</b> & \"quotes\""},
    {"role": "assistant", "content": "Hello! How can I help?  "},
    {"role": "user", "content": "Tell me a joke."},
]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city, e.g. \"Paris\"",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("chat")
    ref = transformers.AutoTokenizer.from_pretrained(str(asset("minilm")))
    ref.add_special_tokens({"bos_token": "<s>", "eos_token": "</s>"})
    ref.chat_template = CHATML
    ref.save_pretrained(str(folder))
    return transformers.AutoTokenizer.from_pretrained(str(folder)), AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("template", [CHATML, LLAMA3_TOOLS])
@pytest.mark.parametrize("gen", [False, True])
def test_render_matches_transformers(pair, template: str, gen: bool) -> None:  # type: ignore[no-untyped-def]
    ref, ours = pair
    kwargs = {"chat_template": template, "add_generation_prompt": gen, "tokenize": False}
    assert ours.apply_chat_template(CHAT, **kwargs) == ref.apply_chat_template(CHAT, **kwargs)
    with_tools = CHAT + [
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "get_weather",
                                                                               "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": {"temperature": 21, "unit": "°C"}},
    ]
    kwargs["tools"] = TOOLS
    kwargs["date_string"] = "26 Jul 2024"
    if template == LLAMA3_TOOLS:
        assert ours.apply_chat_template(with_tools, **kwargs) == ref.apply_chat_template(with_tools, **kwargs)


def test_default_template_from_folder_and_tokenize(pair) -> None:  # type: ignore[no-untyped-def]
    ref, ours = pair
    assert ours.chat_template == CHATML  # loaded from chat_template.jinja written by transformers
    want = ref.apply_chat_template(CHAT, add_generation_prompt=True)
    got = ours.apply_chat_template(CHAT, add_generation_prompt=True)
    assert isinstance(got, BatchEncoding)
    assert dict(got) == {k: list(v) for k, v in want.items()}
    assert ours.apply_chat_template(CHAT, return_dict=False) == ref.apply_chat_template(CHAT, return_dict=False)
    batch = [CHAT[:2], CHAT]
    want_b = ref.apply_chat_template(batch, padding=True, return_tensors="np")
    got_b = ours.apply_chat_template(batch, padding=True, return_tensors="np")
    assert got_b["input_ids"].tolist() == want_b["input_ids"].tolist()
    assert got_b["attention_mask"].tolist() == want_b["attention_mask"].tolist()


def test_continue_final_message_and_generation_block(pair) -> None:  # type: ignore[no-untyped-def]
    ref, ours = pair
    chat = CHAT[1:3]
    kwargs = {"chat_template": CHATML, "continue_final_message": True, "tokenize": False}
    assert ours.apply_chat_template(chat, **kwargs) == ref.apply_chat_template(chat, **kwargs)
    kwargs["chat_template"] = MISTRAL
    assert ours.apply_chat_template(chat, **kwargs) == ref.apply_chat_template(chat, **kwargs)


def test_tojson_and_strftime_semantics(pair) -> None:  # type: ignore[no-untyped-def]
    ref, ours = pair
    template = "{{ messages | tojson }}|{{ messages[0] | tojson(indent=2, sort_keys=True) }}|{{ strftime_now('%Y') }}"
    chat = [{"role": "user", "content": "<tag> & 'ü' \"q\""}]
    kwargs = {"chat_template": template, "tokenize": False}
    assert ours.apply_chat_template(chat, **kwargs) == ref.apply_chat_template(chat, **kwargs)


def test_errors(pair) -> None:  # type: ignore[no-untyped-def]
    _ref, ours = pair
    with pytest.raises(ChatTemplateError, match="alternate"):
        ours.apply_chat_template([{"role": "assistant", "content": "x"}], chat_template=MISTRAL)
    with pytest.raises(ChatTemplateError, match="role"):
        ours.apply_chat_template([{"content": "no role"}])
    with pytest.raises(ChatTemplateError, match="list of message dicts"):
        ours.apply_chat_template("just a string")
    with pytest.raises(ChatTemplateError, match="must be a dict"):
        ours.apply_chat_template(["hello"])
    with pytest.raises(ChatTemplateError, match="syntax error"):
        ours.apply_chat_template(CHAT, chat_template="{% for x in %}")
    with pytest.raises(ChatTemplateError, match="cannot both"):
        ours.apply_chat_template(CHAT, add_generation_prompt=True, continue_final_message=True)
    with pytest.raises(ChatTemplateError, match="sandbox|unsafe|rendering"):
        ours.apply_chat_template(CHAT, chat_template="{{ messages.__class__.__mro__ }}{{ ''.__class__.__subclasses__() }}")
    plain = AutoTokenizer.from_pretrained(asset("minilm"))
    with pytest.raises(ChatTemplateError, match="no chat template"):
        plain.apply_chat_template(CHAT)
