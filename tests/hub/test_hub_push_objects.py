"""``push_to_hub`` on embrace models and tokenizers against `embrace hub serve`: the REAL transformers loads what
embrace pushed and gives the same outputs; ``save_pretrained(push_to_hub=True)`` works too."""

from __future__ import annotations

from pathlib import Path

import torch
from hub_helpers import HubServer, run_reference
from tests.conftest import asset
from tests.training._helpers import tiny_classifier

from embrace.hub import HfApi
from embrace.tokenization import AutoTokenizer

TEXT = "Hub pushes should round-trip exactly."


def test_model_and_tokenizer_push_load_in_transformers(online: HubServer, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(asset("minilm")))
    model = tiny_classifier()
    info = tokenizer.push_to_hub("alice/pushed-objects", commit_message="tokenizer")
    model.push_to_hub("alice/pushed-objects", commit_message="model")
    commits = [c.title for c in HfApi().list_repo_commits("alice/pushed-objects")]
    assert commits[:2] == ["model", "tokenizer"] and info.oid in [c.commit_id for c in
                                                                 HfApi().list_repo_commits("alice/pushed-objects")]
    ids = tokenizer(TEXT)["input_ids"]
    with torch.no_grad():
        ours = model(input_ids=torch.tensor([[min(i, 39) for i in ids]])).logits.tolist()
    script = f"""
    import json, torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    tok = AutoTokenizer.from_pretrained("alice/pushed-objects")
    model = AutoModelForSequenceClassification.from_pretrained("alice/pushed-objects")
    ids = tok({TEXT!r})["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[min(i, 39) for i in ids]])).logits.tolist()
    print(json.dumps({{"ids": ids, "logits": logits}}))
    """
    out = run_reference(script, endpoint=online.url, hf_home=tmp_path / "ref", token=online.tokens["alice"])
    assert out["ids"] == ids
    assert torch.allclose(torch.tensor(out["logits"]), torch.tensor(ours), atol=1e-5)


def test_tokenizer_save_pretrained_with_push(online: HubServer, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(asset("minilm")))
    tokenizer.save_pretrained(tmp_path / "tok", push_to_hub=True, repo_id="alice/saved-and-pushed")
    files = set(HfApi().list_repo_files("alice/saved-and-pushed"))
    assert {"tokenizer.json", "tokenizer_config.json"} <= files
    again = AutoTokenizer.from_pretrained("alice/saved-and-pushed")
    assert again(TEXT)["input_ids"] == tokenizer(TEXT)["input_ids"]
