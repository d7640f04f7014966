"""The HTML page of an :class:`~embrace.ui.Interface`: the form is drawn here from the components; the page script
(``static/interface.js``) reads the fields, calls ``POST /api/predict`` and draws the outputs."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embrace.ui.interface import Interface


def _paragraphs(text: str | None, css_class: str) -> str:
    if not text:
        return ""
    blocks = [b.strip() for b in text.split("\n\n") if b.strip()]
    body = "".join(f"<p>{html.escape(b)}</p>" for b in blocks)
    return f'<div class="{css_class}">{body}</div>'


def _label(text: str | None, fallback: str, element_id: str, info: str | None) -> str:
    shown = html.escape(text or fallback)
    hint = f'<span class="info">{html.escape(info)}</span>' if info else ""
    return f'<label for="{element_id}">{shown}</label>{hint}'


def _examples_table(interface: Interface) -> str:
    if not interface.examples:
        return ""
    heads = "".join(f"<th>{html.escape(c.label or type(c).__name__)}</th>" for c in interface.input_components)
    rows = "".join(
        f'<tr data-example="{i}">' + "".join(f"<td>{html.escape(_short(v))}</td>" for v in row) + "</tr>"
        for i, row in enumerate(interface.examples))
    return (f'<section class="examples"><h3>Examples</h3><table><thead><tr>{heads}</tr></thead>'
            f"<tbody>{rows}</tbody></table></section>")


def _short(value: object, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_page(interface: Interface) -> str:
    """The whole page as one HTML string; the interface's config rides along as JSON for the script."""
    title = interface.title or "embrace"
    fields = "".join(
        f'<div class="field">{_label(c.label, f"Input {i + 1}", f"input-{i}", c.info)}{c.render_input(f"input-{i}")}</div>'
        for i, c in enumerate(interface.input_components))
    outputs = "".join(  # a <label> may only name a form field: outputs are named by aria-labelledby
        f'<div class="field"><div class="label" id="output-{i}-label">{html.escape(c.label or f"Output {i + 1}")}</div>'
        + (f'<span class="info">{html.escape(c.info)}</span>' if c.info else "")
        + f'<div id="output-{i}" class="output" data-kind="{c.kind}" aria-live="polite" '
        f'aria-labelledby="output-{i}-label"></div></div>'
        for i, c in enumerate(interface.output_components))
    # "</" inside a <script> block would end it early: escape the slash (still valid JSON)
    config = json.dumps(interface.config()).replace("</", "<\\/")
    heading = f"<h1>{html.escape(interface.title)}</h1>" if interface.title else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="static/interface.css">
</head>
<body>
<main>
{heading}{_paragraphs(interface.description, "description")}
<div class="columns">
<form id="inputs" class="panel" autocomplete="off" novalidate>
{fields}
<div class="buttons"><button type="button" id="clear">Clear</button><button type="submit" id="submit" class="primary">{html.escape(interface.submit_label)}</button></div>
</form>
<section id="outputs" class="panel">
{outputs}
<div id="status" class="status" role="status"></div>
</section>
</div>
{_examples_table(interface)}{_paragraphs(interface.article, "article")}
<footer>Built with embrace · <a href="api/config">API</a>: POST <code>api/predict</code> with <code>{{"data": [...]}}</code></footer>
</main>
<script id="interface-config" type="application/json">{config}</script>
<script type="module" src="static/interface.js"></script>
</body>
</html>
"""
