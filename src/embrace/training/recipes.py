"""Ready-made fine-tuning runs behind ``embrace train``: load a CSV/JSON/parquet file or a dataset, tokenize,
fine-tune with the ``Trainer``, evaluate, and save a folder that ``pipeline(...)``/``from_pretrained`` load.

``train_text_classification(TrainRecipe(model=..., train_file=...))`` is the Python form of
``embrace train text-classification --model ... --train-file ...``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from embrace.training.callbacks import TrainerError

READERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet", ".txt": "text"}


@dataclass
class TrainRecipe:
    """The options of a fine-tuning run (names match ``embrace train`` flags with ``-`` for ``_``)."""

    model: str = ""
    task: str = "text-classification"
    train_file: str | None = None
    eval_file: str | None = None
    dataset: str | None = None
    dataset_config: str | None = None
    train_split: str = "train"
    eval_split: str | None = None
    validation_split: float = 0.1
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    encoding: str | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    max_length: int = 128
    output_dir: str = "embrace-finetuned"
    epochs: float = 3.0
    max_steps: int = -1
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    batch_size: int = 16
    eval_batch_size: int = 64
    gradient_accumulation_steps: int = 1
    eval_strategy: str = "epoch"
    save_strategy: str = "epoch"
    save_total_limit: int | None = 1
    logging_steps: int = 50
    seed: int = 42
    bf16: bool = False
    fp16: bool = False
    group_by_length: bool = False
    report_to: str = "jsonl"
    push_to_hub: bool = False
    hub_model_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # more TrainingArguments fields

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> TrainRecipe:
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k.replace("-", "_"): v for k, v in values.items()}
        return cls(**{k: v for k, v in values.items() if k in known},
                   extra={k: v for k, v in values.items() if k not in known})


def _load_splits(recipe: TrainRecipe) -> tuple[Any, Any | None]:
    from embrace.data import load_dataset

    reader_kwargs: dict[str, Any] = {"encoding": recipe.encoding} if recipe.encoding else {}
    if recipe.dataset:
        data = load_dataset(recipe.dataset, recipe.dataset_config, **reader_kwargs)
        if recipe.train_split not in data:
            raise TrainerError(f"dataset {recipe.dataset!r} has no split {recipe.train_split!r}; it has "
                               f"{', '.join(data)} (choose with --train-split)")
        eval_split = recipe.eval_split or next((s for s in ("validation", "test") if s in data), None)
        if recipe.eval_split and recipe.eval_split not in data:
            raise TrainerError(f"dataset {recipe.dataset!r} has no split {recipe.eval_split!r}; it has {', '.join(data)}")
        return data[recipe.train_split], data[eval_split] if eval_split else None
    if not recipe.train_file:
        raise TrainerError("give the training data: --train-file FILE (csv, tsv, json, jsonl, parquet) or --dataset NAME")
    files = {"train": recipe.train_file, **({"validation": recipe.eval_file} if recipe.eval_file else {})}
    suffixes = {Path(f).suffix.lower() for f in files.values()}
    if len(suffixes) != 1 or next(iter(suffixes)) not in READERS:
        raise TrainerError(f"cannot tell the format of {', '.join(files.values())}: use one of "
                           f"{', '.join(READERS)} files")
    suffix = suffixes.pop()
    if suffix == ".tsv":
        reader_kwargs["sep"] = "\t"
    data = load_dataset(READERS[suffix], data_files=files, **reader_kwargs)
    evaluation = data.get("validation")
    return data["train"], evaluation


def _check_columns(dataset: Any, recipe: TrainRecipe, where: str) -> None:
    wanted = [c for c in (recipe.text_column, recipe.text_pair_column, recipe.label_column) if c]
    missing = [c for c in wanted if c not in dataset.column_names]
    if missing:
        raise TrainerError(f"the {where} data has no column {', '.join(map(repr, missing))}; its columns are "
                           f"{', '.join(dataset.column_names)} (choose with --text-column / --label-column)")


def _label_names(train: Any, evaluation: Any | None, column: str) -> list[str]:
    feature = train.features[column]
    names = getattr(feature, "names", None)
    if names:
        return list(names)
    values = set(train.unique(column)) | (set(evaluation.unique(column)) if evaluation is not None else set())
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        if min(values) < 0:
            raise TrainerError(f"label column {column!r} has negative ids ({min(values)}); labels must be 0..N-1")
        return [str(i) for i in range(max(values) + 1)]
    return sorted(str(v) for v in values)


def prepare_text_classification(recipe: TrainRecipe, tokenizer: Any) -> tuple[Any, Any, list[str]]:
    """Tokenized train and eval sets with integer ``labels``, and the label names (index = class id)."""
    train, evaluation = _load_splits(recipe)
    _check_columns(train, recipe, "training")
    if evaluation is not None:
        _check_columns(evaluation, recipe, "evaluation")
    text_columns = [c for c in (recipe.text_column, recipe.text_pair_column) if c]

    def complete(row: dict[str, Any]) -> bool:  # rows with an empty text or label cannot be learned from
        return row[recipe.label_column] is not None and all(isinstance(row[c], str) and row[c] for c in text_columns)

    train = train.filter(complete)
    evaluation = evaluation.filter(complete) if evaluation is not None else None
    names = _label_names(train, evaluation, recipe.label_column)
    index = {name: i for i, name in enumerate(names)}
    class_ids = bool(getattr(train.features[recipe.label_column], "names", None))  # a ClassLabel: ints already

    def label_id(value: Any) -> int:
        if class_ids:
            return value if 0 <= value < len(names) else -1
        return index.get(str(value), -1)

    if len(names) < 2:
        raise TrainerError(f"label column {recipe.label_column!r} has {len(names)} class; classification needs 2+")

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        pairs = [batch[recipe.text_pair_column]] if recipe.text_pair_column else []
        out = dict(tokenizer(batch[recipe.text_column], *pairs, truncation=True, max_length=recipe.max_length))
        out["labels"] = [label_id(v) for v in batch[recipe.label_column]]
        out["length"] = [len(ids) for ids in out["input_ids"]]
        return out

    if evaluation is None:
        if not 0 < recipe.validation_split < 1:
            raise TrainerError("no evaluation data: give --eval-file/--eval-split or --validation-split in (0, 1)")
        split = train.train_test_split(test_size=recipe.validation_split, seed=recipe.seed)
        train, evaluation = split["train"], split["test"]
    if recipe.max_train_samples:
        train = train.shuffle(seed=recipe.seed).select(range(min(recipe.max_train_samples, len(train))))
    if recipe.max_eval_samples:
        evaluation = evaluation.shuffle(seed=recipe.seed).select(range(min(recipe.max_eval_samples, len(evaluation))))
    columns = train.column_names
    train = train.map(encode, batched=True, remove_columns=columns)
    evaluation = evaluation.map(encode, batched=True, remove_columns=evaluation.column_names)
    for part, where in ((train, "training"), (evaluation, "evaluation")):
        unknown = sum(v < 0 for v in part["labels"])
        if unknown:
            raise TrainerError(f"the {where} data has {unknown} labels outside the classes {', '.join(names)}")
    return train, evaluation, names


def classification_metrics(eval_pred: Any) -> dict[str, float]:
    """Accuracy and macro-F1 of ``argmax(logits)``."""
    from embrace import metrics

    predictions, labels = eval_pred
    predicted = predictions.argmax(-1)
    return {"accuracy": float((predicted == labels).mean()),
            "f1_macro": float(metrics.load("f1").compute(predictions=predicted, references=labels,
                                                          average="macro")["f1"])}


def train_text_classification(recipe: TrainRecipe) -> dict[str, Any]:
    """Fine-tune ``recipe.model`` for sequence classification; saves the model, tokenizer, label names and
    ``eval_results.json`` into ``output_dir`` and returns the final evaluation metrics."""
    import time

    from embrace.models.auto import AutoModelForSequenceClassification
    from embrace.tokenization import AutoTokenizer
    from embrace.training.arguments import TrainingArguments
    from embrace.training.trainer import Trainer, set_seed

    if not recipe.model:
        raise TrainerError("give the model to fine-tune: --model FOLDER_OR_REPO_ID")
    set_seed(recipe.seed)
    tokenizer = AutoTokenizer.from_pretrained(recipe.model)
    train, evaluation, names = prepare_text_classification(recipe, tokenizer)
    model = AutoModelForSequenceClassification.from_pretrained(
        recipe.model, num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)})
    args = TrainingArguments(
        output_dir=recipe.output_dir, num_train_epochs=recipe.epochs, max_steps=recipe.max_steps,
        learning_rate=recipe.learning_rate, weight_decay=recipe.weight_decay, warmup_ratio=recipe.warmup_ratio,
        per_device_train_batch_size=recipe.batch_size, per_device_eval_batch_size=recipe.eval_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps, eval_strategy=recipe.eval_strategy,
        save_strategy=recipe.save_strategy, save_total_limit=recipe.save_total_limit,
        logging_steps=recipe.logging_steps, seed=recipe.seed, bf16=recipe.bf16, fp16=recipe.fp16,
        group_by_length=recipe.group_by_length, report_to=recipe.report_to, push_to_hub=recipe.push_to_hub,
        hub_model_id=recipe.hub_model_id, load_best_model_at_end=recipe.eval_strategy != "no"
        and recipe.save_strategy == recipe.eval_strategy, metric_for_best_model="f1_macro", **recipe.extra)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation,
                      processing_class=tokenizer, compute_metrics=classification_metrics)
    start = time.perf_counter()
    trainer.train()
    results = trainer.evaluate()
    results["train_wall_seconds"] = round(time.perf_counter() - start, 1)
    results["train_examples"], results["eval_examples"] = len(train), len(evaluation)
    if trainer.state.is_world_process_zero:
        trainer.save_model()
        from embrace.io import atomic_write_text

        atomic_write_text(Path(recipe.output_dir) / "eval_results.json", json.dumps(results, indent=2) + "\n")
    if recipe.push_to_hub:
        trainer.push_to_hub()
    return {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in results.items()}
