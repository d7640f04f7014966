"""Streamers never split a multi-byte character and reassemble to the full decoded text."""

from __future__ import annotations

import torch

from embrace.generation.streamers import TextIteratorStreamer, TextStreamer, stream_text
from embrace.models.llama import LlamaConfig, LlamaForCausalLM


class ByteTokenizer:
    """Token id = one UTF-8 byte, so a character can span several tokens."""

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


def test_pieces_never_split_characters() -> None:
    text = "héllo wörld, 日本語 ok\nnext 🎉 end"
    pieces: list[str] = []

    class Collect(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            pieces.append(text)

    streamer = Collect(ByteTokenizer(), skip_prompt=True)
    streamer.put(torch.tensor([[ord("x")]]))  # the prompt, skipped
    for byte in text.encode():
        streamer.put(torch.tensor([byte]))
    streamer.end()
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


def test_stream_text_matches_generate() -> None:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=256, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=64, eos_token_id=None, bos_token_id=None)
    model = LlamaForCausalLM(config).eval()
    prompt = torch.tensor([[104, 105]])
    full = model.generate(prompt, max_new_tokens=24)
    expected = ByteTokenizer().decode(full[0, 2:].tolist())
    assert "".join(stream_text(model, ByteTokenizer(), prompt, max_new_tokens=24)) == expected
    streamer = TextIteratorStreamer(ByteTokenizer(), skip_prompt=True, timeout=60)
    model.generate(prompt, max_new_tokens=24, streamer=streamer)
    assert "".join(streamer) == expected
