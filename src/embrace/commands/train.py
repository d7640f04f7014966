"""``embrace train TASK --model M --train-file F ...``: fine-tune a model on a CSV/JSON/parquet file or a dataset."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

EXAMPLES = """examples:
  # 3-class sentiment on a CSV (columns text,label; labels may be strings), 10% held out for evaluation
  embrace train text-classification --model sentence-transformers/all-MiniLM-L6-v2 \\
      --train-file tweets.csv --text-column text --label-column sentiment --encoding latin-1 \\
      --epochs 2 --batch-size 16 --max-length 64 --output-dir ./tweet-sentiment
  embrace run sentiment-analysis --model ./tweet-sentiment "what a great day"

  # separate eval file, JSON lines, sentence pairs, bf16 autocast
  embrace train text-classification --model ./bert-base --train-file train.jsonl --eval-file dev.jsonl \\
      --text-column premise --text-pair-column hypothesis --bf16

  # a dataset folder or hub dataset id (parquet/csv/json files; splits from file names)
  embrace train text-classification --model ./minilm --dataset acme/reviews --eval-split test

  # options from a flat YAML or JSON file (keys are the flag names); flags override it
  embrace train text-classification --config run.yaml --learning-rate 3e-5

  # two processes on one machine (DDP; the same command)
  torchrun --nproc_per_node=2 -m embrace.cli train text-classification --config run.yaml

Extra TrainingArguments go in the config file (e.g. "lr_scheduler_type: cosine"). The output folder holds the
model, tokenizer and eval_results.json, and loads with pipeline("text-classification", model=FOLDER)."""

TASKS = ("text-classification",)
_FLAGS: dict[str, dict[str, Any]] = {
    "model": {"help": "model folder or repo id to fine-tune (required)"},
    "train_file": {"help": "training data: .csv, .tsv, .json, .jsonl or .parquet"},
    "eval_file": {"help": "evaluation data (default: --validation-split of the training data)"},
    "dataset": {"help": "a dataset folder or hub dataset id instead of --train-file"},
    "dataset_config": {"help": "the dataset's configuration name"},
    "train_split": {"help": "split of --dataset to train on (default: train)"},
    "eval_split": {"help": "split of --dataset to evaluate on (default: validation or test if present)"},
    "validation_split": {"type": float, "help": "fraction held out for evaluation without eval data (default 0.1)"},
    "text_column": {"help": "column with the text (default: text)"},
    "text_pair_column": {"help": "column with the second text of sentence-pair tasks"},
    "label_column": {"help": "column with the labels: ints 0..N-1 or strings (default: label)"},
    "encoding": {"help": "text encoding of csv/json files (e.g. latin-1)"},
    "max_train_samples": {"type": int, "help": "use a seeded random subset of this many training rows"},
    "max_eval_samples": {"type": int, "help": "use a seeded random subset of this many evaluation rows"},
    "max_length": {"type": int, "help": "truncate inputs to this many tokens (default: 128)"},
    "output_dir": {"help": "where the model and checkpoints go (default: embrace-finetuned)"},
    "epochs": {"type": float, "help": "training epochs (default: 3)"},
    "max_steps": {"type": int, "help": "stop after this many optimizer steps (overrides --epochs)"},
    "learning_rate": {"type": float, "help": "peak learning rate of AdamW (default: 5e-5)"},
    "weight_decay": {"type": float, "help": "AdamW weight decay (default: 0.01)"},
    "warmup_ratio": {"type": float, "help": "fraction of steps with linear warmup (default: 0.1)"},
    "batch_size": {"type": int, "help": "training batch size per process (default: 16)"},
    "eval_batch_size": {"type": int, "help": "evaluation batch size (default: 64)"},
    "gradient_accumulation_steps": {"type": int, "help": "micro-batches per optimizer step (default: 1)"},
    "eval_strategy": {"choices": ("no", "steps", "epoch"), "help": "when to evaluate (default: epoch)"},
    "save_strategy": {"choices": ("no", "steps", "epoch"), "help": "when to checkpoint (default: epoch)"},
    "save_total_limit": {"type": int, "help": "checkpoints to keep (default: 1; the best is always kept)"},
    "logging_steps": {"type": int, "help": "log the loss every N steps (default: 50)"},
    "seed": {"type": int, "help": "random seed (default: 42)"},
    "report_to": {"choices": ("none", "jsonl", "tensorboard"), "help": "where logs go (default: jsonl)"},
    "hub_model_id": {"help": "repo id for --push-to-hub (default: the output folder's name)"},
}
_SWITCHES = {"bf16": "bf16 autocast (CPU or GPU)", "fp16": "fp16 autocast with loss scaling (CUDA only)",
             "group_by_length": "batch inputs of similar length together (less padding, faster)",
             "push_to_hub": "upload the final model to the hub (HF_ENDPOINT, HF_TOKEN)"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train", help="fine-tune a model on a CSV/JSON/parquet file or a dataset", description=__doc__,
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=TASKS, metavar="TASK", help=f"what to train: {', '.join(TASKS)}")
    parser.add_argument("--config", help="a flat YAML (key: value) or JSON file of options")
    for name, spec in _FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=None, **spec)
    for name, help_text in _SWITCHES.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, action="store_true", default=None,
                            help=help_text)
    parser.add_argument("--json", action="store_true", help="print the final metrics as one JSON object")
    parser.set_defaults(func=run)


def read_config(path: str) -> dict[str, Any]:
    """A JSON object, or flat YAML: ``key: value`` lines (``#`` comments; ints, floats, true/false/null,
    quoted or bare strings)."""
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json"):
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the config must be a JSON object")
        return data
    values: dict[str, Any] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line == "---" or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or raw.startswith((" ", "\t")):
            raise ValueError(f"{path}:{number}: expected a flat 'key: value' line, got {raw!r}")
        value = value.strip()
        if value[:1] in ("'", '"') and value.find(value[0], 1) > 0:
            value = value[:value.find(value[0], 1) + 1]  # a quoted string: a '#' inside is text
        else:
            value = value.split(" #", 1)[0].strip()
        values[key.strip()] = _scalar(value)
    return values


def _scalar(value: str) -> Any:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    lowered = value.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("null", "~", ""):
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def run(args: argparse.Namespace) -> int:
    from embrace.training.recipes import TrainRecipe, train_text_classification

    options: dict[str, Any] = read_config(args.config) if args.config else {}
    options.update({k: v for k, v in vars(args).items()
                    if k in _FLAGS or k in _SWITCHES if v is not None})
    options["task"] = args.task
    results = train_text_classification(TrainRecipe.from_mapping(options))
    if os.environ.get("RANK", "0") != "0":  # under torchrun: one report, from the main process
        return 0
    if args.json:
        print(json.dumps(results))
    else:
        shown = {k: v for k, v in results.items() if not k.endswith(("_per_second", "_runtime"))}
        print("\n".join(f"{k}: {v}" for k, v in shown.items()), file=sys.stdout)
        print(f"saved to {options.get('output_dir') or 'embrace-finetuned'}", file=sys.stdout)
    return 0
