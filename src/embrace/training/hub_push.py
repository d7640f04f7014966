"""``push_to_hub`` for the Trainer: create the repo at start, upload the model after saves (``hub_strategy``),
and ``Trainer.push_to_hub()`` for the final model with a model card.

Strategies (the reference's names): ``end`` (only ``push_to_hub()``), ``every_save`` (default: the model files of
each checkpoint), ``checkpoint`` (also the latest checkpoint folder as ``last-checkpoint/``, resumable with
``resume_from_checkpoint="last-checkpoint"`` after a download), ``all_checkpoints`` (every ``checkpoint-N/``).
Uploads are synchronous and happen on the main process only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embrace.training.arguments import TrainingArguments

HUB_STRATEGIES = ("end", "every_save", "checkpoint", "all_checkpoints")
# what a model-only push leaves out of a checkpoint folder: resume state and logs
_RESUME_FILES = ["optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"]
_OUTPUT_IGNORE = ["checkpoint-*", "last-checkpoint/", "runs/", ".*"]


def hub_repo_id(args: TrainingArguments) -> str:
    """``hub_model_id``, else the output folder's name (pushed to the token's user, as the reference)."""
    return args.hub_model_id or Path(args.output_dir or "trainer_output").resolve().name


def init_repo(args: TrainingArguments) -> str:
    """Create the hub repo (``exist_ok``) and return its full id ``namespace/name``."""
    from embrace.hub import HfApi

    api = HfApi(token=args.hub_token)
    return api.create_repo(hub_repo_id(args), private=args.hub_private_repo, exist_ok=True).repo_id


def _upload(args: TrainingArguments, repo_id: str, folder: Path, message: str, *, path_in_repo: str | None = None,
            ignore: list[str] | None = None) -> Any:
    from embrace.hub import HfApi

    api = HfApi(token=args.hub_token)
    if args.hub_revision:
        api.create_branch(repo_id, branch=args.hub_revision, exist_ok=True)
    return api.upload_folder(folder_path=folder, repo_id=repo_id, path_in_repo=path_in_repo,
                             revision=args.hub_revision, commit_message=message, ignore_patterns=ignore)


def push_checkpoint(args: TrainingArguments, repo_id: str, checkpoint: Path, step: int) -> None:
    """After a checkpoint save: upload per ``hub_strategy``."""
    if args.hub_strategy == "end":
        return
    message = f"Training in progress, step {step}"
    _upload(args, repo_id, checkpoint, message, ignore=_RESUME_FILES)
    if args.hub_strategy == "checkpoint":
        _upload(args, repo_id, checkpoint, f"{message} (last checkpoint)", path_in_repo="last-checkpoint")
    elif args.hub_strategy == "all_checkpoints":
        _upload(args, repo_id, checkpoint, f"{message} (checkpoint)", path_in_repo=checkpoint.name)


def model_card(repo_id: str, model: Any, log_history: list[dict[str, Any]], args: TrainingArguments) -> str:
    """A README.md: YAML metadata, the final evaluation metrics and the hyper-parameters."""
    base = getattr(getattr(model, "config", None), "_name_or_path", None)
    evals = [entry for entry in log_history if any(k.startswith("eval_") for k in entry)]
    results = {k: v for k, v in (evals[-1] if evals else {}).items() if k.startswith("eval_")
               and not k.endswith(("_runtime", "_per_second"))}
    hyper = {name: getattr(args, name) for name in (
        "learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs",
        "max_steps", "lr_scheduler_type", "warmup_steps", "weight_decay", "seed", "optim", "bf16", "fp16")}
    lines = ["---", "library_name: transformers", "tags:", "- generated_from_trainer", "- embrace"]
    if base:
        lines.append(f"base_model: {base}")
    lines += ["---", "", f"# {repo_id.split('/')[-1]}", "",
              f"Fine-tuned with the embrace `Trainer`{f' from `{base}`' if base else ''}.", ""]
    if results:
        lines += ["## Evaluation", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in results.items()]
        lines.append("")
    lines += ["## Training hyper-parameters", "", "```json", json.dumps(hyper, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def push_output(args: TrainingArguments, repo_id: str, folder: Path, commit_message: str) -> Any:
    """Upload the saved model in ``output_dir`` (not the checkpoints or logs); returns the ``CommitInfo``."""
    return _upload(args, repo_id, folder, commit_message, ignore=_OUTPUT_IGNORE)
