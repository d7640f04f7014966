"""Beam-search speed of embrace's encoder-decoder generate() vs the reference, same process, same random weights.

A t5-small-shaped model (d_model 512, 6+6 layers, 8 heads, d_ff 2048, vocab 32128) built from config, fp32,
a batch of padded sources, beam 4, a fixed number of new tokens (eos blocked by min_new_tokens so both sides do
the same work). Runs alternate ours / reference; the median of each is reported, and the outputs are checked to
be token-identical. Writes bench/results/seq2seq.json.

    .venv/bin/python bench/bench_seq2seq.py [--batch 1 4] [--new-tokens 32] [--beams 4] [--rounds 3] [--threads 0]
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

T5_SMALL = dict(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8,
                feed_forward_proj="relu", decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        reference = transformers.T5ForConditionalGeneration(transformers.T5Config(**T5_SMALL)).eval()
        reference.save_pretrained(folder)
        ours = AutoModelForSeq2SeqLM.from_pretrained(folder)
        for batch in args.batch:
            rows.append(measure(ours, reference, batch, args))
    out = Path(__file__).parent / "results" / "seq2seq.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": "t5-small-shaped (random)", "beams": args.beams, "new_tokens": args.new_tokens,
                               "threads": torch.get_num_threads(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


def measure(ours: Any, reference: Any, batch: int, args: argparse.Namespace) -> dict[str, Any]:
    lengths = [48 - 7 * i for i in range(batch)]
    ids = torch.zeros(batch, max(lengths), dtype=torch.long)
    for row, length in enumerate(lengths):  # right-padded sources, as a T5 tokenizer pads
        ids[row, :length - 1] = torch.randint(2, 32000, (length - 1,))
        ids[row, length - 1] = 1
    mask = ids.ne(0).long()
    kwargs = dict(num_beams=args.beams, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                  do_sample=False)
    ours_s, ref_s, identical = interleaved(ours, reference, ids, mask, kwargs, args.rounds)
    ours_t, ref_t = statistics.median(ours_s), statistics.median(ref_s)
    load = os.getloadavg()[0]
    print(f"t5-small beam-{args.beams} batch {batch} x {args.new_tokens} new tokens: ours {ours_t:.3f} s   "
          f"reference {ref_t:.3f} s   speed-up {ref_t / ours_t:.2f}x   identical={identical}   load {load:.1f}",
          flush=True)
    return {"batch": batch, "ours_s": ours_s, "reference_s": ref_s, "speedup": ref_t / ours_t,
            "identical": identical, "load_average": load}

if __name__ == "__main__":
    main()
