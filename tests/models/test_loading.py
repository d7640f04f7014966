"""from_pretrained / save_pretrained: formats, sharding, cache resolution, dtypes, key reports and bad input."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
import torch

import embrace
from embrace.errors import (
    CheckpointError,
    EmbraceFileNotFoundError,
    InvalidConfigError,
    OfflineModeError,
    UnknownModelTypeError,
)

transformers = pytest.importorskip("transformers")

SMALL = {"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
         "intermediate_size": 37, "max_position_embeddings": 64}


@pytest.fixture
def ref_bert(tmp_path: Path) -> tuple[object, Path]:
    torch.manual_seed(0)
    model = transformers.BertModel(transformers.BertConfig(**SMALL)).eval()
    folder = tmp_path / "bert"
    model.save_pretrained(folder)
    return model, folder


def _ids() -> torch.Tensor:
    return torch.randint(3, 99, (2, 7), generator=torch.Generator().manual_seed(0))


def _same_output(a: torch.nn.Module, b: torch.nn.Module) -> None:
    ids = _ids()
    with torch.no_grad():
        assert torch.allclose(a(input_ids=ids)[0], b(input_ids=ids)[0], atol=1e-5)


def test_sharded_save_round_trip_and_reference_reads_it(ref_bert: tuple, tmp_path: Path) -> None:
    ref, folder = ref_bert
    ours = embrace.AutoModel.from_pretrained(folder)
    out = tmp_path / "sharded"
    ours.save_pretrained(out, max_shard_size="20KB")
    index = json.loads((out / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 2 and all((out / s).is_file() for s in shards)
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())
    _same_output(embrace.AutoModel.from_pretrained(out), ref)
    _same_output(transformers.AutoModel.from_pretrained(out).eval(), ref)
    # saving again unsharded removes the stale shards
    ours.save_pretrained(out)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]


def test_reference_sharded_checkpoint_loads(ref_bert: tuple, tmp_path: Path) -> None:
    ref, _ = ref_bert
    ref.save_pretrained(tmp_path / "s", max_shard_size="30KB")
    assert (tmp_path / "s" / "model.safetensors.index.json").exists()
    _same_output(embrace.AutoModel.from_pretrained(tmp_path / "s"), ref)


def test_pytorch_bin_checkpoint(ref_bert: tuple, tmp_path: Path) -> None:
    ref, _ = ref_bert
    folder = tmp_path / "bin"
    ref.config.save_pretrained(folder)
    torch.save(ref.state_dict(), folder / "pytorch_model.bin")
    _same_output(embrace.AutoModel.from_pretrained(folder), ref)
    ours = embrace.AutoModel.from_pretrained(folder)
    ours.save_pretrained(tmp_path / "bin_out", safe_serialization=False)
    assert (tmp_path / "bin_out" / "pytorch_model.bin").is_file()
    _same_output(embrace.AutoModel.from_pretrained(tmp_path / "bin_out"), ref)


def test_legacy_gamma_beta_names_load(ref_bert: tuple, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    ref, folder = ref_bert
    legacy = tmp_path / "legacy"
    ref.config.save_pretrained(legacy)
    state = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v.contiguous()
             for k, v in ref.state_dict().items()}
    save_file(state, legacy / "model.safetensors")
    ours = embrace.AutoModel.from_pretrained(legacy)
    _same_output(ours, ref)
    ours.save_pretrained(tmp_path / "modern")
    from safetensors import safe_open

    with safe_open(tmp_path / "modern" / "model.safetensors", "pt") as f:
        assert not any(k.endswith(("gamma", "beta")) for k in f.keys())  # noqa: SIM118


def test_fresh_head_is_reported_not_an_error(ref_bert: tuple, caplog: pytest.LogCaptureFixture) -> None:
    _, folder = ref_bert
    with caplog.at_level(logging.WARNING, logger="embrace.models"):
        model = embrace.AutoModelForSequenceClassification.from_pretrained(folder, num_labels=4)
    assert sorted(model.loading_report.missing_keys) == ["classifier.bias", "classifier.weight"]
    assert "newly initialised" in caplog.text
    assert model.config.num_labels == 4 and model.classifier.weight.shape == (4, 32)
    assert not any(p.is_meta for p in model.parameters())
    # a head checkpoint loads into a base model: the head weights are reported as unused
    model.save_pretrained(folder.parent / "cls")
    base = embrace.AutoModel.from_pretrained(folder.parent / "cls")
    assert "classifier.weight" in base.loading_report.unexpected_keys


def test_tied_embeddings_shared_and_not_saved_twice(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ref = transformers.BertForMaskedLM(transformers.BertConfig(**SMALL)).eval()
    ref.save_pretrained(tmp_path / "mlm")
    ours = embrace.AutoModelForMaskedLM.from_pretrained(tmp_path / "mlm")
    assert ours.cls.predictions.decoder.weight is ours.bert.embeddings.word_embeddings.weight
    assert ours.cls.predictions.decoder.bias is ours.cls.predictions.bias
    state = ours.checkpoint_state_dict()
    assert "cls.predictions.decoder.weight" not in state and "cls.predictions.bias" in state


def test_config_keeps_unknown_keys_and_labels(ref_bert: tuple, tmp_path: Path) -> None:
    _, folder = ref_bert
    data = json.loads((folder / "config.json").read_text())
    data["my_custom_field"] = {"nested": [1, 2]}
    data["id2label"] = {"0": "neg", "1": "pos"}
    (folder / "config.json").write_text(json.dumps(data))
    config = embrace.AutoConfig.from_pretrained(folder)
    assert config.my_custom_field == {"nested": [1, 2]}
    assert config.id2label == {0: "neg", 1: "pos"} and config.label2id == {"neg": 0, "pos": 1}
    assert config.num_labels == 2
    config.save_pretrained(tmp_path / "c")
    saved = json.loads((tmp_path / "c" / "config.json").read_text())
    assert saved["my_custom_field"] == {"nested": [1, 2]} and saved["id2label"] == {"0": "neg", "1": "pos"}
    assert transformers.AutoConfig.from_pretrained(tmp_path / "c").id2label == {0: "neg", 1: "pos"}


def test_dtype_auto_and_explicit(ref_bert: tuple, tmp_path: Path) -> None:
    ref, folder = ref_bert
    assert embrace.AutoModel.from_pretrained(folder).dtype == torch.float32
    half = embrace.AutoModel.from_pretrained(folder, dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16
    half.save_pretrained(tmp_path / "bf16")
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["dtype"] == "bfloat16"
    assert embrace.AutoModel.from_pretrained(tmp_path / "bf16").dtype == torch.bfloat16  # "auto" follows the file
    assert embrace.AutoModel.from_pretrained(tmp_path / "bf16", torch_dtype="float32").dtype == torch.float32


def _fill_hf_cache(cache: Path, repo_id: str, folder: Path, commit: str, refs: dict[str, str]) -> None:
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for f in folder.iterdir():
        blob = repo / "blobs" / f"blob-{f.name}"
        blob.write_bytes(f.read_bytes())
        os.symlink(os.path.relpath(blob, snapshot), snapshot / f.name)
    (repo / "refs").mkdir(exist_ok=True)
    for ref_name, sha in refs.items():
        (repo / "refs" / ref_name).write_text(sha)


def test_repo_id_resolves_from_hf_cache_offline(ref_bert: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref, folder = ref_bert
    cache = tmp_path / "hf" / "hub"
    sha = "a" * 40
    _fill_hf_cache(cache, "org/tiny-bert", folder, sha, {"main": sha})
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    _same_output(embrace.AutoModel.from_pretrained("org/tiny-bert"), ref)
    _same_output(embrace.AutoModel.from_pretrained("org/tiny-bert", revision=sha), ref)
    # the reference reads the same cache offline too
    assert transformers.AutoConfig.from_pretrained("org/tiny-bert", cache_dir=cache, local_files_only=True).hidden_size == 32
    with pytest.raises(OfflineModeError, match="HF_HUB_OFFLINE"):
        embrace.AutoModel.from_pretrained("org/tiny-bert", revision="v2")
    with pytest.raises(OfflineModeError, match="not in the cache"):
        embrace.AutoModel.from_pretrained("org/other-model")


# ---- bad input: each raises a typed error that names the file ------------------------------------------------------
def test_missing_folder() -> None:
    with pytest.raises(EmbraceFileNotFoundError, match="neither an existing folder"):
        embrace.AutoModel.from_pretrained("./no/such/folder/here")


def test_missing_weights(ref_bert: tuple) -> None:
    _, folder = ref_bert
    (folder / "model.safetensors").unlink()
    with pytest.raises(EmbraceFileNotFoundError, match="no weights"):
        embrace.AutoModel.from_pretrained(folder)


@pytest.mark.parametrize("damage", ["truncate_header", "truncate_data", "garbage"])
def test_corrupt_safetensors(ref_bert: tuple, damage: str) -> None:
    _, folder = ref_bert
    path = folder / "model.safetensors"
    data = path.read_bytes()
    if damage == "truncate_header":
        path.write_bytes(data[:20])
    elif damage == "truncate_data":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        embrace.AutoModel.from_pretrained(folder)


def test_config_not_json(ref_bert: tuple) -> None:
    _, folder = ref_bert
    (folder / "config.json").write_text("{ not json")
    with pytest.raises(InvalidConfigError, match="config.json is not valid JSON"):
        embrace.AutoModel.from_pretrained(folder)


def test_unknown_model_type(ref_bert: tuple) -> None:
    _, folder = ref_bert
    data = json.loads((folder / "config.json").read_text())
    data["model_type"] = "flux-capacitor"
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(UnknownModelTypeError, match="flux-capacitor.*Supported: .*bert"):
        embrace.AutoModel.from_pretrained(folder)


def test_shape_mismatch(ref_bert: tuple) -> None:
    _, folder = ref_bert
    data = json.loads((folder / "config.json").read_text())
    data["intermediate_size"] = 40
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"intermediate.dense.weight: checkpoint \(37, 32\) vs model \(40, 32\)"):
        embrace.AutoModel.from_pretrained(folder)


def test_incomplete_checkpoint(ref_bert: tuple) -> None:
    from safetensors.torch import load_file, save_file

    _, folder = ref_bert
    state = load_file(folder / "model.safetensors")
    del state["encoder.layer.1.output.dense.weight"]
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="lacks 1 weights"):
        embrace.AutoModel.from_pretrained(folder)


def test_bad_input_ids_shape(ref_bert: tuple) -> None:
    _, folder = ref_bert
    model = embrace.AutoModel.from_pretrained(folder)
    with pytest.raises(ValueError, match="unsqueeze"):
        model(input_ids=torch.tensor([1, 2, 3]))


def test_outputs_support_index_and_key_access(ref_bert: tuple) -> None:
    _, folder = ref_bert
    out = embrace.AutoModel.from_pretrained(folder)(input_ids=_ids())
    assert out[0] is out.last_hidden_state is out["last_hidden_state"]
    assert out[1] is out.pooler_output and len(out.to_tuple()) == 2
