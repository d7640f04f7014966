"""The SmolLM2 GGUF through the Auto classes and `embrace chat` (the README's main job)."""

from __future__ import annotations

import io

import pytest
from tests.conftest import asset


@pytest.mark.slow
def test_auto_classes_load_gguf_and_chat_cli_streams(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import embrace
    from embrace.cli import main

    path = asset("smollm2_gguf")
    tokenizer = embrace.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = embrace.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    inputs = tokenizer("The capital of France is", return_tensors="pt")
    assert "token_type_ids" not in inputs
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert tokenizer.decode(out[0, inputs["input_ids"].shape[1]:]).startswith(" Paris")

    # `embrace chat` with no model uses the same file (found through EMBRACE_ASSETS) and prints the reply
    monkeypatch.setenv("EMBRACE_ASSETS", str(path.parents[2]))
    monkeypatch.setattr("sys.stdin", io.StringIO("What is the capital of France?\n\n"))
    assert main(["chat", "--max-new-tokens", "12"]) == 0
    reply = capsys.readouterr().out.strip()
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                         add_generation_prompt=True, return_tensors="pt", return_dict=True)
    expected = model.generate(**chat, max_new_tokens=12, do_sample=False)
    assert reply == tokenizer.decode(expected[0, chat["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    assert "Paris" in reply


def test_chat_without_default_model_says_what_to_do(tmp_path: object, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from embrace.cli import main

    monkeypatch.setenv("EMBRACE_ASSETS", str(tmp_path))
    assert main(["chat"]) == 1
    assert "fetch-assets.sh" in capsys.readouterr().err
