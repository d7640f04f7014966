"""``embrace run TASK``: pipeline tasks from arguments, stdin and files; JSON output; one-line errors."""

from __future__ import annotations

import io
import json

import pytest

from embrace.cli import main


def needs_embrace_tokenizer(path):
    try:
        from embrace.tokenization import AutoTokenizer  # type: ignore[import-not-found,unused-ignore]

        AutoTokenizer.from_pretrained(str(path))
    except ImportError:
        pytest.skip("embrace.tokenization has not landed: the CLI loads the model's tokenizer with it")


def test_sentiment_json_and_stdin(tiny_models, capsys, monkeypatch):
    path = tiny_models["sequence"]
    needs_embrace_tokenizer(path)
    assert main(["run", "sentiment-analysis", "--model", str(path), "--json", "I love it", "Awful"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["input"] for line in lines] == ["I love it", "Awful"]
    assert lines[0]["output"]["label"] in ("NEGATIVE", "POSITIVE")
    monkeypatch.setattr("sys.stdin", io.StringIO("first line\n\nsecond line\n"))
    assert main(["run", "text-classification", "-m", str(path), "--top-k", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].endswith("first line") and "POSITIVE" in out[0] and "NEGATIVE" in out[0]


def test_qa_zero_shot_ner_fill_mask_from_file(tiny_models, capsys, tmp_path):
    needs_embrace_tokenizer(tiny_models["qa"])
    questions = tmp_path / "questions.txt"
    questions.write_text("Where do I live?\nWhat is my name?\n")
    assert main(["run", "question-answering", "-m", str(tiny_models["qa"]), "--context",
                 "My name is Wolfgang and I live in Berlin.", "--file", str(questions), "--json"]) == 0
    answers = [json.loads(line)["output"] for line in capsys.readouterr().out.splitlines()]
    assert len(answers) == 2 and all(a["answer"] in "My name is Wolfgang and I live in Berlin." for a in answers)
    assert main(["run", "zero-shot-classification", "-m", str(tiny_models["nli"]), "--labels", "a,b", "text"]) == 0
    assert main(["run", "ner", "-m", str(tiny_models["token"]), "--aggregation-strategy", "simple", "Hi Bob"]) == 0
    assert main(["run", "fill-mask", "-m", str(tiny_models["mlm"]), "--top-k", "2", "Hi [MASK]."]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


@pytest.mark.parametrize("argv, message", [
    (["run", "ner", "--model", "/no/such/folder", "text"], "neither an existing folder"),
    (["run", "sentiment-analysis", "text"], "distilbert/distilbert-base-uncased-finetuned-sst-2-english"),
])
def test_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("embrace: error:") and message in err and "Traceback" not in err


def test_task_options_checked(tiny_models, capsys):
    assert main(["run", "zero-shot-classification", "-m", str(tiny_models["nli"]), "text"]) == 1
    assert "--labels" in capsys.readouterr().err
    assert main(["run", "question-answering", "-m", str(tiny_models["qa"]), "Where?"]) == 1
    assert "--context" in capsys.readouterr().err
