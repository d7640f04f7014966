"""``embrace run TASK --model M INPUT...``: run a model on inputs from the command line, a file or stdin."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXAMPLES = """examples:
  embrace run feature-extraction --model sentence-transformers/all-MiniLM-L6-v2 "Hello world"
  embrace run sentence-similarity --model ./all-MiniLM-L6-v2 "A cat sits." "A dog plays." "Stock markets fell."
  cat sentences.txt | embrace run feature-extraction --model ./all-MiniLM-L6-v2 --json
  embrace run feature-extraction --model ./all-MiniLM-L6-v2 --file sentences.txt --json > vectors.jsonl

MODEL is a local folder or a repo id found in the HF cache (HF_HOME); set HF_HUB_OFFLINE=1 to never use the network."""

TASKS = ("feature-extraction", "sentence-similarity")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="run a model on text inputs", description=__doc__, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("task", choices=TASKS, help="what to compute")
    parser.add_argument("inputs", nargs="*", help="input texts (default: one per line from --file or stdin)")
    parser.add_argument("--model", "-m", required=True, help="model folder or repo id")
    parser.add_argument("--file", "-f", help="read inputs from this file, one per line")
    parser.add_argument("--json", action="store_true", help="print one JSON object per input instead of a summary")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-normalize", action="store_true", help="do not L2-normalise sentence embeddings")
    parser.set_defaults(func=run)


def read_inputs(args: argparse.Namespace) -> list[str]:
    if args.inputs:
        return list(args.inputs)
    if args.file:
        with open(args.file, encoding="utf-8") as handle:
            return [line.rstrip("\n") for line in handle if line.strip()]
    if sys.stdin.isatty():
        raise ValueError("no inputs: pass texts as arguments, --file PATH, or pipe them on stdin")
    return [line.rstrip("\n") for line in sys.stdin if line.strip()]


def run(args: argparse.Namespace) -> int:
    texts = read_inputs(args)
    from embrace.embeddings import SentenceEmbedder, cos_sim

    embedder = SentenceEmbedder.from_pretrained(args.model)
    vectors = embedder.encode(texts, batch_size=args.batch_size, convert_to_tensor=True,
                              normalize_embeddings=False if args.no_normalize else None)
    if args.task == "feature-extraction":
        for text, vector in zip(texts, vectors):
            if args.json:
                print(json.dumps({"text": text, "embedding": [round(x, 6) for x in vector.tolist()]}))
            else:
                head = ", ".join(f"{x:+.4f}" for x in vector[:4].tolist())
                print(f"[{head}, ...] ({vector.shape[0]} dims, norm {vector.norm():.3f})  {text}")
        return 0
    scores = cos_sim(vectors, vectors)
    if args.json:
        print(json.dumps({"texts": texts, "similarity": [[round(x, 6) for x in row] for row in scores.tolist()]}))
        return 0
    width = min(max(len(t) for t in texts), 48)
    for i, text in enumerate(texts):
        cells = "  ".join(f"{scores[i, j]:.3f}" for j in range(len(texts)))
        print(f"{text[:width]:<{width}}  {cells}")
    return 0
