"""``embrace train text-classification``: CSV / JSON lines / dataset folder in, a fine-tuned folder out that
``pipeline`` loads with the string label names; flat YAML configs; clear errors for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from tests.conftest import asset

from embrace.cli import main
from embrace.commands.train import read_config
from embrace.models.bert import BertConfig, BertForSequenceClassification

WORDS = {"pos": ["good", "great", "nice", "happy"], "neg": ["bad", "awful", "sad", "poor"]}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT with the real MiniLM WordPiece tokenizer."""
    minilm = asset("minilm")
    folder = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertForSequenceClassification(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(minilm / name, folder / name)
    return folder


def _rows(n: int, seed: int) -> list[dict[str, str]]:
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        word = WORDS[label][int(torch.randint(0, 4, (), generator=g))]
        rows.append({"text": f"the movie was {word} today", "sentiment": label})
    return rows


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("text,sentiment\n" + "".join(f"{r['text']},{r['sentiment']}\n" for r in rows))
    return path


def test_train_csv_then_pipeline_loads_the_result(tiny_model: Path, tmp_path: Path, capsys) -> None:
    train = _write_csv(tmp_path / "train.csv", _rows(64, 0))
    config = tmp_path / "run.yaml"
    config.write_text(f"# a run\nmodel: {tiny_model}\nlabel_column: sentiment\nlearning_rate: 0.01\n"
                      "epochs: 8\nbatch_size: 8\nmax_length: 16\nreport_to: none\nlogging_steps: 5  # often\n"
                      "lr_scheduler_type: constant\n")
    out = tmp_path / "out"
    code = main(["train", "text-classification", "--config", str(config), "--train-file", str(train),
                 "--validation-split", "0.25", "--output-dir", str(out), "--json"])
    assert code == 0
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert results["train_examples"] == 48 and results["eval_examples"] == 16
    assert results["eval_accuracy"] == 1.0 and results["eval_f1_macro"] == 1.0
    assert json.loads((out / "eval_results.json").read_text())["eval_accuracy"] == 1.0
    assert json.loads((out / "training_args.json").read_text())["lr_scheduler_type"] == "constant"  # extra key
    from embrace.pipelines import pipeline

    classify = pipeline("text-classification", model=str(out))
    assert classify("the movie was great today")[0]["label"] == "pos"
    assert classify("the movie was awful today")[0]["label"] == "neg"


def test_train_jsonl_with_eval_file_and_int_labels(tiny_model: Path, tmp_path: Path, capsys) -> None:
    def write(path: Path, rows: list[dict[str, str]]) -> Path:
        path.write_text("".join(json.dumps({"review": r["text"], "label": int(r["sentiment"] == "pos")}) + "\n"
                                for r in rows))
        return path

    code = main(["train", "text-classification", "--model", str(tiny_model), "--train-file",
                 str(write(tmp_path / "train.jsonl", _rows(32, 1))), "--eval-file",
                 str(write(tmp_path / "dev.jsonl", _rows(8, 2))), "--text-column", "review", "--max-steps", "2",
                 "--output-dir", str(tmp_path / "out"), "--report-to", "none", "--eval-strategy", "no",
                 "--save-strategy", "no", "--bf16"])
    assert code == 0
    assert "eval_accuracy" in capsys.readouterr().out
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["id2label"] == {"0": "0", "1": "1"}


@pytest.mark.parametrize(("extra", "message"), [
    (["--label-column", "stars"], "no column 'stars'"),
    (["--train-file", "data.xlsx"], "cannot tell the format"),
    (["--validation-split", "1.5"], "validation-split"),
])
def test_bad_input_is_one_clear_line(tiny_model: Path, tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    train = _write_csv(tmp_path / "train.csv", _rows(16, 0))
    argv = ["train", "text-classification", "--model", str(tiny_model), "--train-file", str(train),
            "--label-column", "sentiment", "--output-dir", str(tmp_path / "out"), *extra]
    if "data.xlsx" in extra:
        (tmp_path / "data.xlsx").write_text("x")
        argv[argv.index("--train-file", 6) + 1] = str(tmp_path / "data.xlsx")
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_help_shows_examples(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--train-file" in text and "torchrun" in text


def test_flat_yaml_config(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("---\nepochs: 2\nlr: 3e-5\nname: 'quoted # not a comment'\nflag: true\nnothing: null\nreport_to: none\n")
    assert read_config(str(path)) == {"epochs": 2, "lr": 3e-5, "name": "quoted # not a comment", "flag": True,
                                      "nothing": None, "report_to": "none"}
    path.write_text("nested:\n  key: 1\n")
    with pytest.raises(ValueError, match="flat"):
        read_config(str(path))
