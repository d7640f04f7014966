"""The oneDNN inference linear and the fused q/k/v and gate/up projections (src/embrace/models/linear.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
import transformers

from embrace.models.auto import AutoModelForCausalLM
from embrace.models.linear import Linear, linear, onednn_enabled, project_fused

needs_onednn = pytest.mark.skipif(not onednn_enabled(), reason="this torch build has no oneDNN")


@needs_onednn
@pytest.mark.parametrize("rows", [(1,), (4,), (3, 7), (2, 1, 5)])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_linear_equals_f_linear(rows: tuple[int, ...], transposed: bool, with_bias: bool) -> None:
    torch.manual_seed(0)
    weight = torch.randn(48, 40).t().contiguous().t() if transposed else torch.randn(48, 40)
    bias = torch.randn(48) if with_bias else None
    x = torch.randn(*rows, 40)
    with torch.no_grad():
        torch.testing.assert_close(linear(x, weight, bias), F.linear(x, weight, bias), atol=1e-5, rtol=1e-5)


def test_linear_keeps_autograd_when_training() -> None:
    layer = Linear(8, 3)
    x = torch.randn(5, 8, requires_grad=True)
    layer(x).sum().backward()
    assert layer.weight.grad is not None and x.grad is not None
    expected = torch.ones(5, 3).t() @ x.detach()
    torch.testing.assert_close(layer.weight.grad, expected)


def test_disabled_by_environment() -> None:
    code = "from embrace.models.linear import onednn_enabled; print(onednn_enabled())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"EMBRACE_ONEDNN": "0", "PATH": ""})
    assert out.stdout.strip() == "False"


class TwoHeads(torch.nn.Module):
    def __init__(self, bias: bool) -> None:
        super().__init__()
        self.a = Linear(6, 4, bias=bias)
        self.b = Linear(6, 2, bias=bias)


@needs_onednn
@pytest.mark.parametrize("bias", [False, True])
def test_project_fused_shares_storage_and_follows_updates(bias: bool) -> None:
    torch.manual_seed(0)
    module = TwoHeads(bias)
    x = torch.randn(3, 6)
    expected = [module.a(x).detach(), module.b(x).detach()]
    with torch.inference_mode():
        got = project_fused(module, ("a", "b"), x)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e)
    fused = module.__dict__["_fused_linears"][0]
    assert module.b.weight.data_ptr() == fused.data_ptr() + 4 * 6 * 4   # rows 4..5 of the (6, 6) concatenation
    # training after inference: the Parameters are normal tensors and in-place updates reach the fused weight
    optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
    (module.a(x).sum() + module.b(x).sum()).backward()
    optimizer.step()
    with torch.no_grad():
        after = project_fused(module, ("a", "b"), x)
        torch.testing.assert_close(after[1], F.linear(x, module.b.weight, module.b.bias))
    # a dtype round trip re-points the Parameters at new storage: detected, fused again, still right
    module.double().float()
    with torch.no_grad():
        again = project_fused(module, ("a", "b"), x)
        torch.testing.assert_close(again[0], F.linear(x, module.a.weight, module.a.bias))


def test_project_fused_runs_replaced_layers_one_by_one() -> None:
    module = TwoHeads(bias=True)
    module.b = torch.nn.Sequential(Linear(6, 2))  # type: ignore[assignment]  # e.g. LoRA: not a plain Linear
    x = torch.randn(3, 6)
    with torch.no_grad():
        a, b = project_fused(module, ("a", "b"), x)
        torch.testing.assert_close(b, module.b(x))
    assert "_fused_linears" not in module.__dict__


@needs_onednn
def test_fused_llama_logits_save_and_train(tmp_path) -> None:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2)
    reference = transformers.LlamaForCausalLM(config).eval()
    reference.save_pretrained(tmp_path / "ref")
    ours = AutoModelForCausalLM.from_pretrained(tmp_path / "ref")
    ids = torch.randint(0, 64, (2, 9))
    with torch.inference_mode():
        logits = ours(input_ids=ids).logits
        expected = reference(input_ids=ids).logits
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)
    attention = ours.model.layers[0].self_attn
    assert "_fused_linears" in attention.__dict__ and "_fused_linears" in ours.model.layers[0].mlp.__dict__
    # saving the fused model writes the reference's separate tensors, which the reference loads
    ours.save_pretrained(tmp_path / "ours")
    reloaded = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, expected, atol=1e-4, rtol=0)
    # one training step after inference updates both the separate view and what the fused matmul reads
    ours.train()
    loss = ours(input_ids=ids, labels=ids).loss
    loss.backward()
    torch.optim.SGD(ours.parameters(), lr=1.0).step()
    ours.eval()
    with torch.no_grad():
        q = attention.q_proj.weight
        hidden = torch.randn(1, 3, 32)
        fused_q = project_fused(attention, ("q_proj", "k_proj", "v_proj"), hidden)[0]
        torch.testing.assert_close(fused_q, F.linear(hidden, q), atol=1e-5, rtol=1e-5)


@needs_onednn
def test_packed_for_rows_matches_and_follows_weight_updates() -> None:
    from embrace.models.linear import packed_for_rows

    torch.manual_seed(0)
    first, second = Linear(16, 32), Linear(32, 8)
    model = torch.nn.Sequential(first, second)
    x = torch.randn(4, 16)
    with torch.no_grad():
        expected = model(x)
        with packed_for_rows(4):
            torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)
            assert "_onednn_packed" in first.__dict__
        assert "_onednn_packed" not in first.__dict__   # no model given: dropped at the end
        with packed_for_rows(4, model):
            model(x)
        kept = first.__dict__["_onednn_packed"]           # a small model keeps its packed copies
        first.weight.mul_(2)                               # an in-place change is noticed: packed again
        with packed_for_rows(4, model):
            torch.testing.assert_close(model(x), F.linear(F.linear(x, first.weight, first.bias),
                                                          second.weight, second.bias), atol=1e-5, rtol=1e-5)
        assert first.__dict__["_onednn_packed"] is not kept
        with packed_for_rows(1, model):                       # one row: plain weights, nothing packed anew
            model(x[:1])
        with packed_for_rows(64, model):                      # many rows: plain weights too
            assert model(torch.randn(64, 16)).shape == (64, 8)
