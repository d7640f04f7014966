"""``Trainer(push_to_hub=True)`` against `embrace hub serve`: checkpoints are pushed while training
(``hub_strategy``), ``trainer.push_to_hub()`` lands the final model and a model card, and the REAL
huggingface_hub + transformers download it and compute the same logits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hub_helpers import HubServer, run_reference
from tests.training._helpers import classification_data, tiny_classifier

from embrace.hub import HfApi
from embrace.training import Trainer, TrainingArguments
from embrace.training.arguments import TrainingArgumentsError

INPUT = [[2, 11, 7, 15, 20, 3]]


def _trainer(tmp_path: Path, **kwargs: object) -> Trainer:
    args = TrainingArguments(output_dir=str(tmp_path / "run"), max_steps=4, save_strategy="steps", save_steps=2,
                             per_device_train_batch_size=4, learning_rate=1e-2, disable_tqdm=True,
                             eval_strategy="steps", eval_steps=2, **kwargs)  # type: ignore[arg-type]
    data = classification_data(16)
    return Trainer(model=tiny_classifier(), args=args, train_dataset=data, eval_dataset=data[:8],
                   compute_metrics=lambda p: {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())})


def test_trainer_push_to_hub_lands_a_checkpoint_the_reference_downloads(online: HubServer, tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, push_to_hub=True, hub_model_id="alice/trained-tiny", hub_strategy="checkpoint")
    assert HfApi().repo_exists("alice/trained-tiny")  # created when the Trainer is built
    trainer.train()
    info = trainer.push_to_hub()
    assert info.oid == HfApi().model_info("alice/trained-tiny").sha
    with torch.no_grad():
        ours = trainer.model(input_ids=torch.tensor(INPUT)).logits.tolist()
    script = f"""
    import json, pathlib
    from huggingface_hub import HfApi, snapshot_download
    from transformers import AutoModelForSequenceClassification
    import torch
    api = HfApi()
    folder = pathlib.Path(snapshot_download("alice/trained-tiny"))
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    titles = [c.title for c in api.list_repo_commits("alice/trained-tiny")]
    model = AutoModelForSequenceClassification.from_pretrained("alice/trained-tiny")
    with torch.no_grad():
        logits = model(input_ids=torch.tensor({INPUT})).logits.tolist()
    print(json.dumps({{"files": files, "titles": titles, "logits": logits,
                      "card": (folder / "README.md").read_text()}}))
    """
    out = run_reference(script, endpoint=online.url, hf_home=tmp_path / "ref_home", token=online.tokens["alice"])
    files = set(out["files"])
    assert {"config.json", "model.safetensors", "README.md", "training_args.json",
            "last-checkpoint/optimizer.pt", "last-checkpoint/trainer_state.json"} <= files
    assert not any(f.startswith("checkpoint-") for f in files) and "optimizer.pt" not in files
    titles = out["titles"]
    assert titles[0] == "End of training"
    assert "Training in progress, step 2" in titles and "Training in progress, step 4" in titles
    assert torch.allclose(torch.tensor(out["logits"]), torch.tensor(ours), atol=1e-5)
    assert "eval_accuracy" in out["card"] and "generated_from_trainer" in out["card"]
    # the pushed last checkpoint resumes training
    state = json.loads(Path(HfApi().hf_hub_download("alice/trained-tiny", "last-checkpoint/trainer_state.json"))
                       .read_text())
    assert state["global_step"] == 4


def test_hub_strategy_end_pushes_only_at_the_end(online: HubServer, tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, push_to_hub=True, hub_model_id="trained-end", hub_strategy="end")
    trainer.train()
    assert [c.title for c in HfApi().list_repo_commits("alice/trained-end")][0] != "Training in progress, step 2"
    trainer.push_to_hub("final")
    commits = [c.title for c in HfApi().list_repo_commits("alice/trained-end")]
    assert commits[0] == "final" and not any(t.startswith("Training in progress") for t in commits)


def test_bad_hub_strategy_is_refused() -> None:
    with pytest.raises(TrainingArgumentsError, match="hub_strategy"):
        TrainingArguments(output_dir="x", hub_strategy="sometimes")
    assert "hub_token" not in TrainingArguments(output_dir="x", hub_token="hf_secret").to_json_string()
