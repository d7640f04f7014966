"""The real transformers downloads a tiny BERT from `embrace hub serve` (pushed with transformers' own
push_to_hub), and embrace's from_pretrained resolves the same repo id through embrace's client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hub_helpers import HubServer, run_reference

PUSH_AND_LOAD = r"""
import json, os, pathlib, tempfile
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizerFast

work = pathlib.Path(tempfile.mkdtemp())
(work / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "hub"]))
torch.manual_seed(0)
config = BertConfig(vocab_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=32)
model = BertModel(config).eval()
tokenizer = BertTokenizerFast(vocab_file=str(work / "vocab.txt"))
model.push_to_hub("alice/tiny-bert", commit_message="tiny bert")
tokenizer.push_to_hub("alice/tiny-bert")
ids = torch.tensor([[2, 5, 6, 7, 3]])
with torch.no_grad():
    expected = model(ids).last_hidden_state

fresh = str(work / "fresh_cache")
anon = {"token": False, "cache_dir": fresh}
cfg = AutoConfig.from_pretrained("alice/tiny-bert", **anon)
loaded = AutoModel.from_pretrained("alice/tiny-bert", **anon).eval()
tok = AutoTokenizer.from_pretrained("alice/tiny-bert", **anon)
with torch.no_grad():
    got = loaded(ids).last_hidden_state
print(json.dumps({
    "hidden_size": cfg.hidden_size,
    "max_diff": float((got - expected).abs().max()),
    "ids": tok("hello world hub")["input_ids"],
    "original_ids": tokenizer("hello world hub")["input_ids"],
    "tokenizer_class": type(tok).__name__,
    "expected": expected.tolist(),
}))
"""


@pytest.fixture(scope="module")
def pushed(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return run_reference(PUSH_AND_LOAD, endpoint=hub.url, hf_home=tmp_path_factory.mktemp("tf_home"),
                         token=hub.tokens["alice"], timeout=240)


@pytest.mark.slow
def test_transformers_push_to_hub_and_from_pretrained(pushed: dict[str, object]) -> None:
    assert pushed["hidden_size"] == 16
    assert pushed["max_diff"] == 0.0
    assert pushed["ids"] == pushed["original_ids"] and pushed["tokenizer_class"] == "BertTokenizer"


@pytest.mark.slow
def test_embrace_from_pretrained_resolves_through_the_client(pushed: dict[str, object], online: HubServer,
                                                            tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    auto = pytest.importorskip("embrace.models.auto")
    model = auto.AutoModel.from_pretrained("alice/tiny-bert").eval()
    with torch.no_grad():
        got = model(torch.tensor([[2, 5, 6, 7, 3]])).last_hidden_state
    expected = torch.tensor(pushed["expected"])
    assert torch.allclose(got, expected, atol=1e-4)
    snapshots = Path(tmp_path / "hf_home/hub/models--alice--tiny-bert/snapshots")
    files = {p.name for p in next(snapshots.iterdir()).iterdir()}
    assert {"config.json", "model.safetensors"} <= files
    json.loads((next(snapshots.iterdir()) / "config.json").read_text())


LOAD_DATASET = r"""
import json
from datasets import load_dataset
ds = load_dataset("acme/tiny-data", split="train")
print(json.dumps({"rows": ds.to_list(), "columns": ds.column_names}))
"""


@pytest.mark.slow
def test_reference_datasets_load_dataset_from_the_hub(online: HubServer, tmp_path: Path) -> None:
    from embrace.hub import HfApi

    api = HfApi()
    api.create_repo("acme/tiny-data", repo_type="dataset", exist_ok=True)
    api.upload_file(path_or_fileobj=b"text,label\nhello,1\nbye,0\n", path_in_repo="data/train.csv",
                    repo_id="acme/tiny-data", repo_type="dataset")
    loaded = run_reference(LOAD_DATASET, endpoint=online.url, hf_home=tmp_path / "ds_home", timeout=240,
                           extra_env={"HF_HUB_DISABLE_XET": ""})
    assert loaded["columns"] == ["text", "label"]
    assert loaded["rows"] == [{"text": "hello", "label": 1}, {"text": "bye", "label": 0}]
