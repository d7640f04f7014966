"""``embrace serve [MODEL ...]``: an OpenAI-compatible HTTP server (chat, completions, embeddings, pipelines,
metrics, a web playground) with continuous batching for the causal LM. With no MODEL it serves SmolLM2-135M-Instruct
(chat) and all-MiniLM-L6-v2 (embeddings) from the offline assets."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

EXAMPLES = """examples:
  embrace serve                                   # SmolLM2 (chat) + MiniLM (embeddings), http://127.0.0.1:8000
  embrace serve ./SmolLM2-135M-Instruct.Q4_1.gguf ./all-MiniLM-L6-v2 --port 8080
  embrace serve chat=HuggingFaceTB/SmolLM2-135M-Instruct text-classification=./sst2-model
  embrace serve --api-key sk-local --cors-origin http://localhost:3000 --max-num-seqs 64
  curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{"model": "SmolLM2-135M-Instruct", "messages": [{"role": "user", "content": "Hi!"}]}'

MODEL is [TASK=]SOURCE: a folder, a repo id in the HF cache, or a .gguf file. TASK is chat (or text-generation),
embeddings (or feature-extraction, sentence-similarity), or another pipeline task (text-classification, ner,
question-answering, fill-mask, zero-shot-classification); without it the kind is read from the model's files.
The API key may also come from the EMBRACE_API_KEY environment variable."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="serve models over an OpenAI-compatible HTTP API",
                                   description=__doc__, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", metavar="MODEL", help="[TASK=]SOURCE (default: SmolLM2 + MiniLM)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cpu)")
    parser.add_argument("--max-num-seqs", type=int, default=32, help="sequences decoded together (KV slots)")
    parser.add_argument("--max-model-len", type=int, help="positions per sequence (default: the model's, max 2048)")
    parser.add_argument("--kv-cache-tokens", type=int,
                        help="KV budget in positions over all sequences (default: max-num-seqs x max-model-len)")
    parser.add_argument("--max-queue", type=int, default=256, help="waiting sequences before answering 429")
    parser.add_argument("--max-prefill-tokens", type=int, default=4096, help="prompt tokens prefilled per step")
    parser.add_argument("--request-timeout", type=float, default=600.0, help="seconds before a request is cut off")
    parser.add_argument("--max-request-bytes", type=int, default=4 * 1024 * 1024, help="largest request body")
    parser.add_argument("--api-key", action="append", default=[], help="require this bearer key on /v1 (repeatable)")
    parser.add_argument("--cors-origin", action="append", default=[],
                        help="allow browser requests from this origin (repeatable; '*' for any)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 helps on a busy CPU)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> Any:
    from embrace.serving.config import ServeConfig

    keys = list(args.api_key) + ([os.environ["EMBRACE_API_KEY"]] if os.environ.get("EMBRACE_API_KEY") else [])
    return ServeConfig(max_num_seqs=args.max_num_seqs, max_model_len=args.max_model_len,
                       kv_cache_tokens=args.kv_cache_tokens, max_queue=args.max_queue,
                       max_prefill_tokens=args.max_prefill_tokens, request_timeout_s=args.request_timeout,
                       max_request_bytes=args.max_request_bytes, api_keys=tuple(keys),
                       cors_origins=tuple(args.cors_origin), threads=args.threads)


def run(args: argparse.Namespace) -> int:
    from embrace.serving import ModelRegistry, create_app, default_specs, load_model_spec, serve

    registry = ModelRegistry(config_from_args(args))
    for spec in args.models or default_specs():
        print(f"embrace serve: loading {spec}", file=sys.stderr, flush=True)
        load_model_spec(registry, spec, device=args.device)
    print(f"embrace serve: {', '.join(registry.model_ids())} on http://{args.host}:{args.port} "
          f"(OpenAI API under /v1, playground at /)", file=sys.stderr, flush=True)
    serve(create_app(registry), args.host, args.port, log_level=args.log_level)
    return 0
