"""FSDP (torch's FSDP2, ``fully_shard``) through torchrun on CPU (gloo): 2 processes with ``fsdp="full_shard
auto_wrap"`` and per-device batch b train to the same weights, losses and eval metrics as one process with batch
2b; the main process alone writes full (gathered) checkpoints that load with ``from_pretrained``; a resume under
another sharding layout continues exactly; the Accelerator shards the same way with ``ACCELERATE_USE_FSDP``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tests.training._helpers import assert_close, assert_same_run, saved_tagger_weights, tiny_classifier, torchrun

from embrace.models.auto import AutoModelForTokenClassification
from embrace.training import TrainingArguments
from embrace.training.fsdp import (
    FSDPError,
    FullyShardedDataParallelPlugin,
    _units,
    normalize_fsdp_arguments,
    optimizer_state_by_index,
    optimizer_state_by_name,
)

SCRIPT = Path(__file__).with_name("fsdp_train_script.py")


def test_two_process_fsdp_equals_one_process_with_the_global_batch(tmp_path: Path) -> None:
    from tests.training import accelerate_script, ddp_train_script

    torchrun(SCRIPT, 2, str(tmp_path))
    ddp_train_script.main(str(tmp_path / "single"), 4, 2)
    fsdp, single = tmp_path / "fsdp", tmp_path / "single"
    assert_same_run(fsdp, single)
    # checkpoints: full weights (from_pretrained, with the real class name), name-keyed optimizer state, per-rank RNG
    checkpoint = fsdp / "checkpoint-4"
    assert {"model.safetensors", "config.json", "optimizer.pt", "rng_state_0.pth", "rng_state_1.pth"} <= {
        p.name for p in checkpoint.iterdir()}
    assert json.loads((checkpoint / "config.json").read_text())["architectures"] == ["BertForTokenClassification"]
    reloaded = AutoModelForTokenClassification.from_pretrained(checkpoint).state_dict()
    assert_close(reloaded, saved_tagger_weights(fsdp / "model"), atol=0)
    optimizer = torch.load(checkpoint / "optimizer.pt")
    assert "bert.encoder.layer.0.attention.self.query.weight" in optimizer["state"]
    assert not list(fsdp.glob(".checkpoint-*"))
    # resumed from step 2 with another layout (shard_grad_op, one unit): the same end as the uninterrupted run
    assert_close(saved_tagger_weights(tmp_path / "resumed" / "model"), saved_tagger_weights(fsdp / "model"), atol=1e-6)
    # ... and in one process (name-keyed optimizer state back to positions): the end of the single run
    ddp_train_script.main(str(tmp_path / "resumed_single"), 4, 2, resume=str(fsdp / "checkpoint-2"))
    assert_close(saved_tagger_weights(tmp_path / "resumed_single" / "model"), saved_tagger_weights(single / "model"),
                 atol=1e-5)
    # Accelerator: 2 FSDP processes with batch 4 equal one process with batch 8
    accelerate_script.main(str(tmp_path / "acc_single"), 8, 2)
    ours, ref = (torch.load(tmp_path / name / "result.pt") for name in ("accelerate", "acc_single"))
    assert_close(ours["weights"], ref["weights"], atol=1e-5)
    assert ours["losses"] == pytest.approx(ref["losses"], abs=1e-5)
    assert torch.allclose(ours["predictions"], ref["predictions"], atol=1e-5)
    assert_close(torch.load(tmp_path / "accelerate" / "state" / "model.bin"), ref["weights"], atol=1e-5)


@pytest.mark.parametrize(("fsdp", "config", "expected"), [
    (True, None, (["full_shard"], {})),
    ("shard_grad_op auto_wrap", None, (["shard_grad_op", "auto_wrap"], {})),
    (["full_shard", "offload"], {"fsdp_min_num_params": 100}, (["full_shard", "offload"], {"min_num_params": 100})),
    ("auto_wrap", None, (["full_shard", "auto_wrap"], {})),
    ("", None, ([], {})),
])
def test_fsdp_arguments_follow_the_reference(fsdp, config, expected) -> None:
    assert normalize_fsdp_arguments(fsdp, config) == expected


def test_fsdp_config_from_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "fsdp.json"
    path.write_text(json.dumps({"fsdp_transformer_layer_cls_to_wrap": ["BertLayer"], "reshard_after_forward": False}))
    args = TrainingArguments(output_dir=str(tmp_path), fsdp="full_shard", fsdp_config=str(path))
    plugin = FullyShardedDataParallelPlugin.from_training_args(args.fsdp, args.fsdp_config)  # type: ignore[arg-type]
    assert plugin.transformer_cls_names_to_wrap == ["BertLayer"] and plugin.reshard_after_forward is False
    json.loads(args.to_json_string())  # still serialisable into training_args.json


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"fsdp": "full_shard shard_grad_op"}, "one sharding strategy"),
    ({"fsdp": "zero3"}, "unknown option"),
    ({"fsdp": "hybrid_shard"}, "only in FSDP1"),
    ({"fsdp": True, "fsdp_config": {"version": 1}}, "only FSDP2"),
    ({"fsdp": True, "fsdp_config": {"min_num_params": 10, "transformer_layer_cls_to_wrap": ["BertLayer"]}},
     "mutually exclusive"),
    ({"fsdp": True, "fsdp_config": {"state_dict_type": "SHARDED_STATE_DICT"}}, "FULL_STATE_DICT"),
    ({"fsdp": True, "fsdp_config": {"limit_all_gather": True}}, "unknown key"),
    ({"fsdp": True, "fp16": True}, "bf16"),
])
def test_bad_fsdp_arguments_fail_when_the_arguments_are_built(tmp_path: Path, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingArguments(output_dir=str(tmp_path), **kwargs)


def test_wrap_policies_pick_the_transformer_layers_or_large_modules() -> None:
    model = tiny_classifier()
    layers = _units(model, FullyShardedDataParallelPlugin())
    assert [type(m).__name__ for m in layers] == ["BertLayer", "BertLayer"]
    with pytest.raises(FSDPError, match="does not contain"):
        _units(model, FullyShardedDataParallelPlugin(transformer_cls_names_to_wrap="LlamaDecoderLayer"))
    big = _units(model, FullyShardedDataParallelPlugin(auto_wrap_policy="size_based_wrap", min_num_params=1000))
    assert big and all(sum(p.numel() for p in m.parameters()) >= 1000 for m in big)
    assert not any(isinstance(m, torch.nn.ModuleList) for m in big)  # fully_shard needs a forward
    assert _units(model, FullyShardedDataParallelPlugin(auto_wrap_policy="NO_WRAP")) == []
    assert FullyShardedDataParallelPlugin(reshard_after_forward="SHARD_GRAD_OP").reshard_after_forward is False


def test_fsdp_in_one_process_trains_unsharded(tmp_path: Path) -> None:
    from tests.training._helpers import classification_data

    from embrace.training import Trainer

    args = TrainingArguments(output_dir=str(tmp_path), fsdp="full_shard", max_steps=1, save_strategy="no",
                             report_to="none", disable_tqdm=True)
    trainer = Trainer(model=tiny_classifier(), args=args, train_dataset=classification_data(8))
    assert trainer.fsdp_plugin is None
    trainer.train()


def test_optimizer_state_converts_between_positions_and_names() -> None:
    model = tiny_classifier()
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    decay = [p for n, p in model.named_parameters() if not n.endswith("bias")]
    optimizer = torch.optim.AdamW([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-2)
    model(input_ids=torch.tensor([[2, 11, 12]]), labels=torch.tensor([1])).loss.backward()
    optimizer.step()
    plain = optimizer.state_dict()
    named = optimizer_state_by_name(model, optimizer, plain)
    assert "bert.pooler.dense.bias" in named["state"] and named["param_groups"][1]["weight_decay"] == 0.0
    back = optimizer_state_by_index(model, optimizer, named)
    assert back["param_groups"] == plain["param_groups"] and back["state"].keys() == plain["state"].keys()
    for index, entry in plain["state"].items():
        assert all(torch.equal(back["state"][index][k], v) for k, v in entry.items())
    assert optimizer_state_by_index(model, optimizer, plain) is plain


@pytest.mark.parametrize(("fsdp", "config"), [
    ("full_shard auto_wrap", None),
    ("shard_grad_op", None),
    (True, {"fsdp_transformer_layer_cls_to_wrap": "BertLayer", "cpu_offload": True}),
    (["full_shard", "offload"], {"auto_wrap_policy": "NO_WRAP", "reshard_after_forward": "false"}),
])
def test_fsdp_settings_equal_the_reference(tmp_path: Path, fsdp, config) -> None:
    """transformers 5.23 turns the same arguments into the same accelerate FSDP plugin settings."""
    import copy
    import warnings

    from transformers import TrainingArguments as Reference

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Reference(output_dir=str(tmp_path), fsdp=copy.deepcopy(fsdp), fsdp_config=copy.deepcopy(config))
    expected = ref.fsdp_plugin_args
    args = TrainingArguments(output_dir=str(tmp_path), fsdp=fsdp, fsdp_config=config)
    ours = FullyShardedDataParallelPlugin.from_training_args(args.fsdp, args.fsdp_config)  # type: ignore[arg-type]
    assert ours.fsdp_version == expected["fsdp_version"]
    assert ours.reshard_after_forward == expected["reshard_after_forward"]
    assert ours.cpu_offload == expected.get("cpu_offload", False)
    assert ours.auto_wrap_policy == expected["auto_wrap_policy"].lower()
    assert ours.state_dict_type == expected["state_dict_type"]
    names = expected.get("transformer_cls_names_to_wrap")
    assert ours.transformer_cls_names_to_wrap == (names.split(",") if names else None)


def test_plugin_from_accelerate_environment(monkeypatch) -> None:
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    assert FullyShardedDataParallelPlugin.from_env() is None
    for name, value in {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_RESHARD_AFTER_FORWARD": "false",
                        "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP", "FSDP_TRANSFORMER_CLS_TO_WRAP": "BertLayer",
                        "FSDP_OFFLOAD_PARAMS": "false"}.items():
        monkeypatch.setenv(name, value)
    plugin = FullyShardedDataParallelPlugin.from_env()
    assert plugin is not None and plugin.reshard_after_forward is False
    assert plugin.transformer_cls_names_to_wrap == ["BertLayer"] and plugin.cpu_offload is False
