"""``embrace chat --model M``: a multi-turn chat with a causal LM in the terminal (the model's chat template)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from embrace.commands.run import add_generation_options, generation_arguments

EXAMPLES = """examples:
  embrace chat --model ./SmolLM2-135M-Instruct
  embrace chat --model HuggingFaceTB/SmolLM2-135M-Instruct --system "You are terse." --do-sample --temperature 0.7
  printf 'Hi!\\nWhat is 2+2?\\n' | embrace chat --model ./SmolLM2-135M-Instruct

Type a message and press Enter; an empty line or Ctrl-D ends the chat, /reset forgets the conversation."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("chat", help="chat with a causal language model", description=__doc__,
                                   epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", "-m", required=True, help="model folder or repo id (with a chat template)")
    parser.add_argument("--system", help="a system message that starts the conversation")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cpu)")
    parser.add_argument("--top-k", type=int, help="sampling: keep the k most likely tokens")
    add_generation_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from embrace.pipelines import pipeline

    generator = pipeline("text-generation", model=args.model, device=args.device)
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
        reply = generator(messages, **options)[0]["generated_text"][-1]["content"]
        messages.append({"role": "assistant", "content": reply})
        print(f"assistant> {reply}" if interactive else reply, flush=True)
