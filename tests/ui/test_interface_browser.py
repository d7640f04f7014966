"""An Interface page in a real headless Chromium: fill the generated form, submit, see the outputs drawn."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.ui.browser import chromium

from embrace.ui import JSON, Checkbox, Dropdown, Interface, Label, Number, Slider, Textbox


def classify(text: str, temperature: float, top: int, mood: str, upper: bool) -> tuple[dict[str, float], str, Any]:
    words = text.split()
    scores = {w: (i + 1) / temperature for i, w in enumerate(words)}
    total = sum(scores.values())
    shown = f"{mood}: {text}"
    return {w: s / total for w, s in scores.items()}, shown.upper() if upper else shown, {"top": top, "n": len(words)}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:  # one Playwright per thread: every test here shares this browser
        yield instance


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    demo = Interface(
        classify,
        [Textbox(label="Text", lines=2), Number(value=1.0, label="Temperature", minimum=0.1), Slider(1, 5, 2),
         Dropdown(["calm", "excited"], label="Mood"), Checkbox(label="Upper")],
        [Label(label="Scores", num_top_classes=3), Textbox(label="Echo"), JSON(label="Info")],
        title="Word scores", examples=[["one two three four", 2.0, 4, "excited", True]])
    url = demo.launch(server_port=0, block=False, quiet=True)
    tab = browser.new_page()
    tab.goto(url)
    yield tab
    tab.close()
    demo.close()


def test_form_submit_draws_label_text_and_json(page: Any) -> None:
    page.fill("#input-0", "alpha beta gamma delta")
    page.select_option("#input-3", label="excited")
    page.check("#input-4")
    page.click("#submit")
    page.wait_for_selector("#output-0 .label-top")
    assert page.inner_text("#output-0 .label-top") == "delta"
    rows = page.locator("#output-0 .confidence")
    assert rows.count() == 3  # num_top_classes
    assert rows.nth(0).locator(".confidence-value").inner_text() == "40.0%"  # 4 / (1+2+3+4)
    assert page.inner_text("#output-1") == "EXCITED: ALPHA BETA GAMMA DELTA"
    assert '"n": 4' in page.inner_text("#output-2") and '"top": 2' in page.inner_text("#output-2")
    assert "Done in" in page.inner_text("#status")


def test_validation_error_is_shown(page: Any) -> None:
    page.fill("#input-1", "0.01")  # below the minimum 0.1: the server answers 422
    page.click("#submit")
    page.wait_for_selector("#status.error")
    assert "input 2 (Number 'Temperature'): 0.01 is below the minimum 0.1" in page.inner_text("#status")
    page.fill("#input-1", "1")


def test_example_row_fills_the_form_and_clear_resets(page: Any) -> None:
    page.click('tr[data-example="0"]')
    assert page.input_value("#input-0") == "one two three four"
    assert page.input_value("#input-2") == "4" and page.inner_text(".slider output") == "4"
    assert page.is_checked("#input-4")
    page.click("#submit")
    page.wait_for_function("document.querySelector('#output-1').innerText.startsWith('EXCITED: ONE')")
    page.click("#clear")
    assert page.input_value("#input-0") == "" and page.input_value("#input-2") == "2"
    assert page.inner_text("#output-0") == ""


def spell(word: str) -> Iterator[str]:
    for i in range(1, len(word) + 1):
        time.sleep(0.05)
        yield word[:i]


def test_generator_function_output_grows_in_the_page(browser: Any) -> None:
    with Interface(spell, "text", "text") as demo:
        url = demo.launch(server_port=0, block=False, quiet=True)
        tab = browser.new_page()
        tab.goto(url)
        tab.evaluate("""() => {
          window.__seen = [];
          new MutationObserver(() => window.__seen.push(document.getElementById('output-0').textContent))
            .observe(document.getElementById('output-0'), {subtree: true, childList: true, characterData: true});
        }""")
        tab.fill("#input-0", "streaming")
        tab.click("#submit")
        tab.wait_for_function("document.getElementById('status').textContent.startsWith('Done')")
        seen = list(dict.fromkeys(s for s in tab.evaluate("window.__seen") if s))
        # every step drawn as it came (a loaded machine may merge a few steps into one read: at least 3 states)
        assert seen[-1] == "streaming" and len(seen) >= 3, seen
        assert all("streaming".startswith(s) for s in seen) and seen == sorted(seen, key=len)
