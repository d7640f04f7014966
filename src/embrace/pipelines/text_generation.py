"""``text-generation``: continue a prompt, or answer a chat (a list of ``{"role", "content"}`` messages).

>>> generator = pipeline("text-generation", model="HuggingFaceTB/SmolLM2-135M-Instruct")
>>> generator("Once upon a time", max_new_tokens=20, do_sample=True, top_p=0.9)
[{'generated_text': 'Once upon a time, ...'}]
>>> generator([{"role": "user", "content": "Hi!"}], max_new_tokens=20)
[{'generated_text': [{'role': 'user', 'content': 'Hi!'}, {'role': 'assistant', 'content': 'Hello! ...'}]}]

With ``batch_size=N`` prompts are left-padded and generated N at a time (like the reference; the pad id is the
tokenizer's, or its end-of-sequence id when it has none). Every ``generate()`` argument
is accepted (``max_new_tokens``, ``do_sample``, ``temperature``, ``top_k``, ``top_p``, ``num_return_sequences``,
``streamer`` ...). ``return_full_text=False`` returns only the new text; ``return_tensors=True`` the token ids.
"""

from __future__ import annotations

from typing import Any

import torch

from embrace.pipelines.base import Pipeline, check_text
from embrace.pipelines.errors import PipelineInputError

_TEXT_KEYS = {"return_full_text", "return_tensors", "return_text", "skip_special_tokens",
              "clean_up_tokenization_spaces"}


class TextGenerationPipeline(Pipeline):
    task = "text-generation"
    padding_side = "left"

    def _sanitize_parameters(self, prefix: str | None = None, add_special_tokens: bool | None = None,
                             continue_final_message: bool | None = None, **kwargs: Any,
                             ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        pre: dict[str, Any] = {}
        if prefix is not None:
            pre["prefix"] = prefix
        if add_special_tokens is not None:
            pre["add_special_tokens"] = add_special_tokens
        if continue_final_message is not None:
            pre["continue_final_message"] = continue_final_message
        post = {k: kwargs.pop(k) for k in list(kwargs) if k in _TEXT_KEYS}
        return pre, dict(kwargs), post

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        inputs = args[0] if args else None
        if _is_chat(inputs):  # one conversation, not a list of prompts
            return super().__call__(_Chat(inputs), **kwargs)
        if isinstance(inputs, list) and inputs and all(_is_chat(x) for x in inputs):
            return super().__call__([_Chat(x) for x in inputs], **kwargs)
        return super().__call__(*args, **kwargs)

    def preprocess(self, item: Any, prefix: str = "", add_special_tokens: bool | None = None,
                   continue_final_message: bool | None = None) -> list[dict[str, Any]]:
        if isinstance(item, _Chat):
            final_assistant = item.messages[-1]["role"] == "assistant"
            cont = final_assistant if continue_final_message is None else continue_final_message
            ids = self.tokenizer.apply_chat_template(item.messages, add_generation_prompt=not cont,
                                                     continue_final_message=cont, tokenize=True, return_dict=True)
            input_ids = torch.tensor(ids["input_ids"])
            prompt: Any = item.messages
        else:
            prompt = check_text(item, self.task, "prompt")
            extra = {} if add_special_tokens is None else {"add_special_tokens": add_special_tokens}
            encoded = self.tokenizer(prefix + prompt, return_tensors="pt", **extra)
            input_ids = encoded["input_ids"][0]
        return [{"input_ids": input_ids, "prompt": prompt, "prefix": prefix}]

    def _forward(self, batch: dict[str, torch.Tensor], **generate_kwargs: Any) -> dict[str, torch.Tensor]:
        input_ids = batch["input_ids"]
        if input_ids.shape[1] == 0:
            raise PipelineInputError("text-generation: the prompt has no tokens")
        if len(input_ids) > 1 and "pad_token_id" not in generate_kwargs:
            generate_kwargs["pad_token_id"] = self.pad_token_id()
        sequences = self.model.generate(input_ids=input_ids, attention_mask=batch.get("attention_mask"),
                                        **generate_kwargs)
        if not isinstance(sequences, torch.Tensor):
            sequences = sequences.sequences
        new_tokens = sequences[:, input_ids.shape[1]:]  # the prompt, left padding included, is cut off
        return {"new_tokens": new_tokens.reshape(len(input_ids), -1, new_tokens.shape[-1])}  # (prompts, n, new)

    def postprocess(self, chunk_outputs: list[dict[str, Any]], return_full_text: bool = True,
                    return_tensors: bool = False, return_text: bool = True, skip_special_tokens: bool = True,
                    clean_up_tokenization_spaces: bool | None = None) -> list[dict[str, Any]]:
        out = chunk_outputs[0]
        prompt, input_ids = out["prompt"], out["input_ids"]
        chat = isinstance(prompt, list)
        decode_args = {"skip_special_tokens": skip_special_tokens}
        if clean_up_tokenization_spaces is not None:
            decode_args["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        results = []
        for new_tokens in out["new_tokens"]:
            if return_tensors and not return_text:
                results.append({"generated_token_ids": [*input_ids.tolist(), *new_tokens.tolist()]})
                continue
            text = self.tokenizer.decode(new_tokens.tolist(), **decode_args)
            if chat:
                messages = [dict(m) for m in prompt]
                if messages[-1]["role"] == "assistant":  # continued the final message
                    messages[-1]["content"] += text
                else:
                    messages.append({"role": "assistant", "content": text})
                generated: Any = messages if return_full_text else text
            else:
                generated = prompt + text if return_full_text else text
            results.append({"generated_text": generated})
        return results


class _Chat:
    """Marks one conversation so the base class treats it as a single input, not a list of prompts."""

    def __init__(self, messages: Any) -> None:
        self.messages = list(messages)
        for m in self.messages:
            if not isinstance(m.get("content"), str) or m.get("role") not in ("system", "user", "assistant", "tool"):
                raise PipelineInputError('chat messages are {"role": "system"|"user"|"assistant", "content": str}')


def _is_chat(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(
        isinstance(m, dict) and "role" in m for m in value)
