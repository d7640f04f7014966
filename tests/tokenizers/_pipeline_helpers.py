"""Shared helpers of the pipeline/tokenization tests: real corpora from the offline assets and an encoding comparer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.conftest import asset

TRICKY = [
    "",
    " ",
    "   leading and trailing   ",
    "Hello, world! How's it going? I'm fine; you're great... don't stop.",
    "Ünïcödé café naïve résumé Ångström",
    "e\u0301 a\u0323\u0301 combining accents",
    "日本語のテキスト、中文字符和한국어 텍스트",
    "emoji 🤗🎉 👩‍👩‍👧 flags 🇫🇷 skin 👍🏽",
    "tabs\tand\nnew\r\nlines\x00control\x07chars \u200b zero width \u00a0nbsp \u3000ideographic",
    "ΟΔΟΣ ΣΟΦΟΣ Σ final sigma",
    "numbers 1234567890 3.14159 1,000,000 ½ ² ٣",
    "urls https://example.com/path?q=1&x=y#frag and emails a.b@c.de",
    "x" * 150 + " " + "antidisestablishmentarianism" * 5,
    "mixed[CLS]special [SEP] tokens [MASK]inside <|endoftext|> text",
    "\ufffd replacement \ufeff bom",
]


def read_texts(kind: str, limit: int | None = None) -> list[str]:
    """Texts of a real corpus: 'sotu' (five-sentence chunks), 'moby_dick' (paragraphs), 'tweets_csv' (text column)."""
    if kind == "tweets_csv":
        with open(asset("tweets_csv"), encoding="latin-1", newline="") as f:
            rows = [r[2] for r in csv.reader(f) if len(r) >= 3][1:]
        return rows[:limit]
    folder = asset(kind)
    texts: list[str] = []
    for path in sorted(Path(folder).glob("*.txt")):
        raw = path.read_text(encoding="utf-8")
        if kind == "sotu":  # one line per speech: cut into chunks of about five sentences
            sentences = raw.split(". ")
            texts.extend(". ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5))
        else:
            texts.extend(p for p in raw.split("\n\n") if p.strip())
        if limit is not None and len(texts) >= limit:
            break
    return texts[:limit]


FIELDS = ("ids", "tokens", "offsets", "word_ids", "type_ids", "attention_mask", "special_tokens_mask", "sequence_ids")


def assert_same(ref_enc, our_enc, text: object = "") -> None:  # type: ignore[no-untyped-def]
    for field in FIELDS:
        want, got = getattr(ref_enc, field), getattr(our_enc, field)
        assert got == want, f"{field} differs for {text!r:.200}:\nref:  {want}\nours: {got}"
    assert len(our_enc.overflowing) == len(ref_enc.overflowing)
    for a, b in zip(ref_enc.overflowing, our_enc.overflowing):
        assert_same(a, b, text)


def gpt2_files() -> tuple[dict[str, int], list[tuple[str, str]]]:
    folder = asset("gpt2_bpe")
    vocab = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
    lines = (folder / "vocab.bpe").read_text(encoding="utf-8").split("\n")[1:]
    merges = [(a, b) for a, b in (line.split(" ") for line in lines if line.strip())]
    return vocab, merges


def whole_speech() -> str:
    """One complete State of the Union address (a very long single input, ~50k characters)."""
    return (asset("sotu") / "1790_george_washington_n.txt").read_text(encoding="utf-8") * 4
