"""Decode speed of embrace's generate() vs the reference, same process, same random weights.

fp32 (and bf16 with --bf16), batch 1, greedy, 128 new tokens (eos disabled), on a GPT-2-124M-shaped and a
SmolLM2-135M-shaped model built from config. Prints ours / reference / ratio; writes bench/results/generation.json.

    .venv/bin/python bench/bench_generation.py [--new-tokens 128] [--bf16] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import transformers

from embrace.models.auto import AutoModelForCausalLM

SHAPES = {
    "gpt2-124m": lambda: transformers.GPT2Config(),
    "smollm2-135m": lambda: transformers.LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0, tie_word_embeddings=True,
        bos_token_id=1, eos_token_id=2),
}


def decode_rate(model: object, prompt: torch.Tensor, new_tokens: int) -> float:
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, eos_token_id=None,
                  pad_token_id=0)
    model.generate(prompt, max_new_tokens=4, do_sample=False, eos_token_id=None, pad_token_id=0)  # type: ignore[attr-defined]  # warm-up
    start = time.perf_counter()
    out = model.generate(prompt, **kwargs)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    assert out.shape[1] == prompt.shape[1] + new_tokens
    return new_tokens / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--bf16", action="store_true", help="also measure bfloat16 weights")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    prompt = torch.randint(10, 1000, (1, 16))
    rows = []
    dtypes = [torch.float32] + ([torch.bfloat16] if args.bf16 else [])
    for name, make in SHAPES.items():
        with tempfile.TemporaryDirectory() as folder:
            reference = transformers.AutoModelForCausalLM.from_config(make()).eval()
            reference.save_pretrained(folder)
            for dtype in dtypes:
                ref = reference.to(dtype)
                ours = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
                with torch.inference_mode():
                    ref_rate = decode_rate(ref, prompt, args.new_tokens)
                    our_rate = decode_rate(ours, prompt, args.new_tokens)
                rows.append({"model": name, "dtype": str(dtype).removeprefix("torch."), "ours_tok_s": our_rate,
                             "reference_tok_s": ref_rate, "ratio": our_rate / ref_rate})
                print(f"{name:14s} {rows[-1]['dtype']:9s} ours {our_rate:7.1f} tok/s   reference {ref_rate:7.1f} "
                      f"tok/s   ratio {our_rate / ref_rate:5.2f}x", flush=True)
    out = Path(__file__).parent / "results" / "generation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"new_tokens": args.new_tokens, "threads": torch.get_num_threads(), "rows": rows},
                              indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
