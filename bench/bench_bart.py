"""Beam-search speed of the BART family (bart-base and opus-mt shaped, random weights) vs the reference.

Same process, same weights, a batch of right-padded sources, beam 4, a fixed number of new tokens (eos blocked by
min_new_tokens so both sides do the same work). Runs alternate ours / reference; medians (and the ratio of the
fastest rounds) are reported and the outputs are checked to be token-identical. Writes bench/results/bart.json.

    .venv/bin/python bench/bench_bart.py [--batch 4] [--new-tokens 32] [--beams 4] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch
import transformers

from embrace.models.auto import AutoModelForSeq2SeqLM
from seq2seq_timing import interleaved

SHAPES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "bart-base": ("BartConfig", "BartForConditionalGeneration", dict(
        vocab_size=50265, d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
        decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072)),
    "opus-mt": ("MarianConfig", "MarianMTModel", dict(
        vocab_size=58101, d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
        decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048, scale_embedding=True,
        activation_function="swish")),
}


def sources(batch: int, pad: int, eos: int, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = [48 - 7 * i for i in range(batch)]
    ids = torch.full((batch, max(lengths)), pad, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, :length - 1] = torch.randint(4, min(vocab, 32000), (length - 1,))
        ids[row, length - 1] = eos
    return ids, ids.ne(pad).long()


def run(name: str, args: argparse.Namespace) -> dict[str, Any]:
    config_name, model_name, shape = SHAPES[name]
    torch.manual_seed(0)
    reference = getattr(transformers, model_name)(getattr(transformers, config_name)(**shape)).eval()
    config = reference.config
    ids, mask = sources(args.batch, config.pad_token_id, config.eos_token_id, config.vocab_size)
    kwargs = dict(num_beams=args.beams, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                  do_sample=False)
    with tempfile.TemporaryDirectory() as folder:
        reference.save_pretrained(folder)
        ours = AutoModelForSeq2SeqLM.from_pretrained(folder)
    ours_s, ref_s, identical = interleaved(ours, reference, ids, mask, kwargs, args.rounds)
    ours_t, ref_t = statistics.median(ours_s), statistics.median(ref_s)
    best = min(ref_s) / min(ours_s)  # under heavy load the fastest round is the least disturbed one
    result = {"model": f"{name}-shaped (random)", "ours_s": ours_s, "reference_s": ref_s, "speedup": ref_t / ours_t,
              "speedup_best": best, "identical": identical}
    print(f"{name} beam-{args.beams} batch {args.batch} x {args.new_tokens} new tokens: ours {ours_t:.3f} s   "
          f"reference {ref_t:.3f} s   speed-up {ref_t / ours_t:.2f}x (best rounds {best:.2f}x)   "
          f"identical={identical}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: leave torch's default)")
    parser.add_argument("--models", nargs="*", default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = [run(name, args) for name in args.models]
    load = os.getloadavg()[0]
    print(f"load average {load:.1f}, torch threads {torch.get_num_threads()}")
    out = Path(__file__).parent / "results" / "bart.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"beams": args.beams, "batch": args.batch, "new_tokens": args.new_tokens,
                               "threads": torch.get_num_threads(), "load_average": load, "results": results},
                              indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
