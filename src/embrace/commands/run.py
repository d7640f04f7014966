"""``embrace run TASK [--model M] INPUT...``: run a pipeline on inputs from the command line, a file or stdin."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXAMPLES = """examples:
  embrace run sentiment-analysis --model ./sst2-model "I love this!" "This is awful."
  embrace run ner --model ./ner-model --aggregation-strategy simple "My name is Wolfgang and I live in Berlin"
  embrace run question-answering --model ./squad-model --context "I live in Berlin." "Where do I live?"
  embrace run zero-shot-classification --model ./nli-model --labels "urgent,not urgent" "Fix my phone now!"
  embrace run fill-mask --model ./bert-model --top-k 3 "Paris is the [MASK] of France."
  embrace run text-generation --model ./SmolLM2-135M-Instruct --max-new-tokens 30 "Once upon a time"
  embrace run summarization --model ./distilbart-cnn-12-6 --file articles.txt
  embrace run translation_en_to_de --model ./t5-small "How old are you?"
  embrace run feature-extraction --model sentence-transformers/all-MiniLM-L6-v2 "Hello world"
  embrace run sentence-similarity --model ./all-MiniLM-L6-v2 "A cat sits." "A dog plays." "Stock markets fell."
  cat reviews.txt | embrace run sentiment-analysis --model ./sst2-model --json > labels.jsonl

Inputs: the arguments, else one per line from --file, else one per line from stdin.
MODEL is a local folder or a repo id found in the HF cache (HF_HOME); without --model the task's default model
(the same as transformers') must be in the cache. Set HF_HUB_OFFLINE=1 to never use the network.
feature-extraction and sentence-similarity print pooled sentence embeddings (sentence-transformers pooling)."""

EMBEDDING_TASKS = ("feature-extraction", "sentence-similarity")
PIPELINE_TASKS = ("text-classification", "sentiment-analysis", "token-classification", "ner", "question-answering",
                  "fill-mask", "zero-shot-classification", "text-generation")
SEQ2SEQ_TASKS = ("text2text-generation", "summarization", "translation")
TASKS = EMBEDDING_TASKS + PIPELINE_TASKS + SEQ2SEQ_TASKS


def task_name(value: str) -> str:
    """argparse type for TASK: one of TASKS, or translation_xx_to_yy."""
    from embrace.pipelines import check_task
    from embrace.pipelines.errors import UnknownTaskError

    try:
        if value in TASKS or check_task(value) == "translation":
            return value
    except UnknownTaskError:
        pass
    raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from {', '.join(TASKS)}, translation_xx_to_yy)")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="run a model on text inputs", description=__doc__, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("task", type=task_name, metavar="TASK",
                        help=f"what to compute: {', '.join(TASKS)} or translation_xx_to_yy")
    parser.add_argument("inputs", nargs="*", help="input texts (default: one per line from --file or stdin)")
    parser.add_argument("--model", "-m", help="model folder or repo id (default: the task's default model)")
    parser.add_argument("--file", "-f", help="read inputs from this file, one per line")
    parser.add_argument("--json", action="store_true", help="print one JSON object per input instead of a summary")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cpu)")
    parser.add_argument("--no-normalize", action="store_true", help="do not L2-normalise sentence embeddings")
    parser.add_argument("--top-k", type=int, help="how many labels / predictions / answers per input")
    parser.add_argument("--aggregation-strategy", choices=("none", "simple", "first", "average", "max"),
                        help="token-classification: how tokens are grouped into entities")
    parser.add_argument("--context", help="question-answering: the text the answers come from")
    parser.add_argument("--labels", help="zero-shot-classification: comma-separated candidate labels")
    parser.add_argument("--multi-label", action="store_true", help="zero-shot-classification: labels are independent")
    parser.add_argument("--src-lang", help="translation: source language code of multilingual models (en_XX)")
    parser.add_argument("--tgt-lang", help="translation: target language code of multilingual models (de_DE)")
    add_generation_options(parser)
    parser.set_defaults(func=run)


def add_generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-new-tokens", type=int, help="generation: tokens to generate (text-generation: 50)")
    parser.add_argument("--do-sample", action="store_true", help="text-generation: sample instead of greedy")
    parser.add_argument("--temperature", type=float, help="text-generation: sampling temperature")
    parser.add_argument("--top-p", type=float, help="text-generation: nucleus sampling probability mass")


def generation_arguments(args: argparse.Namespace) -> dict[str, Any]:
    call: dict[str, Any] = {"max_new_tokens": 50 if args.max_new_tokens is None else args.max_new_tokens,
                            "do_sample": args.do_sample}
    if args.temperature is not None:
        call["temperature"] = args.temperature
    if args.top_p is not None:
        call["top_p"] = args.top_p
    return call


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
    if args.task in EMBEDDING_TASKS:
        return run_embeddings(args, texts)
    from embrace.pipelines import pipeline

    call_args = task_arguments(args)
    runner = pipeline(args.task, model=args.model, device=args.device, batch_size=args.batch_size)
    # an iterator in gives one result per input, without the reference's special cases for one-item lists
    if args.task == "question-answering":
        context = call_args.pop("context")
        results = runner(iter([{"question": q, "context": context} for q in texts]), **call_args)
    else:
        results = runner(iter(texts), **call_args)
    for text, result in zip(texts, results):
        if args.json:
            print(json.dumps({"input": text, "output": result}, ensure_ascii=False))
        else:
            print(f"{summarize(args.task, result)}  {text}")
    return 0


def task_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline call's keyword arguments from the task-specific options."""
    call: dict[str, Any] = {}
    if args.top_k is not None:
        call["top_k"] = args.top_k
    if args.aggregation_strategy is not None:
        call["aggregation_strategy"] = args.aggregation_strategy
    if args.task == "question-answering":
        if not args.context:
            raise ValueError("question-answering needs --context TEXT (the inputs are the questions)")
        call["context"] = args.context
    if args.task == "text-generation":
        call.update(generation_arguments(args))
        if args.top_k is not None:  # for generation --top-k is the sampling cut-off
            call["top_k"] = args.top_k
    if is_seq2seq(args.task):  # the model's task_specific_params stay the defaults unless an option is given
        call.update({k: v for k, v in generation_arguments(args).items() if v})
        if args.max_new_tokens is None:
            call.pop("max_new_tokens")
        call.update({k: v for k, v in (("src_lang", args.src_lang), ("tgt_lang", args.tgt_lang)) if v})
    if args.task == "zero-shot-classification":
        if not args.labels:
            raise ValueError('zero-shot-classification needs --labels "label one,label two"')
        call["candidate_labels"] = args.labels
        call["multi_label"] = args.multi_label
    return call


def is_seq2seq(task: str) -> bool:
    return task in SEQ2SEQ_TASKS or task.startswith("translation_")


def summarize(task: str, result: Any) -> str:
    """One human-readable line for one input's result."""
    if task in ("text-classification", "sentiment-analysis"):
        items = result if isinstance(result, list) else [result]
        return "  ".join(f"{r['label']} {r['score']:.3f}" for r in items)
    if task in ("token-classification", "ner"):
        return ", ".join(f"{r.get('entity_group', r.get('entity'))}:{r['word']} ({r['score']:.2f})"
                         for r in result) or "(no entities)"
    if task == "question-answering":
        items = result if isinstance(result, list) else [result]
        return "  ".join(f"{r['answer']!r} {r['score']:.3f}" for r in items)
    if task == "text-generation":
        return " | ".join(repr(r["generated_text"]) for r in result)
    if is_seq2seq(task):
        items = result if isinstance(result, list) else [result]
        return " | ".join(repr(next(v for k, v in r.items() if k.endswith("_text"))) for r in items)
    if task == "zero-shot-classification":
        return "  ".join(f"{label} {score:.3f}" for label, score in zip(result["labels"], result["scores"]))
    rows = result if result and isinstance(result[0], list) else [result]  # fill-mask: one list per mask
    return " | ".join("  ".join(f"{r['token_str']!r} {r['score']:.3f}" for r in row) for row in rows)


def run_embeddings(args: argparse.Namespace, texts: list[str]) -> int:
    """Sentence embeddings (pooled and normalised as sentence-transformers does) or their similarity matrix."""
    from embrace.embeddings import SentenceEmbedder, cos_sim

    if not args.model:
        raise ValueError(f"{args.task} needs --model (a sentence-transformers folder or repo id)")
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
