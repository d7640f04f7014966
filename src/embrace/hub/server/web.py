"""The hub's web pages: a list of public repos, and a repo page with its files and README (model card)."""

from __future__ import annotations

import html
import re

from starlette.responses import HTMLResponse

from embrace.hub.server.context import URL_PREFIX, HubContext, HubError, Principal
from embrace.hub.server.storage import Repo

_STYLE = """body{font-family:system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#222}
a{color:#2456c7;text-decoration:none}table{border-collapse:collapse;width:100%}td{padding:.25rem .5rem;
border-bottom:1px solid #eee}.card{background:#fafafa;border:1px solid #eee;padding:1rem;white-space:pre-wrap}
h1 small{color:#888;font-size:.6em}code{background:#f3f3f3;padding:0 .2em}"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                        f"<style>{_STYLE}</style></head><body>{body}</body></html>")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return str(n)


def index(ctx: HubContext) -> HTMLResponse:
    sections = []
    for repo_type in URL_PREFIX:
        repos = [r for r in ctx.storage.list_repos(repo_type) if not r.private]
        if not repos:
            continue
        rows = "".join(
            f"<tr><td><a href='/{URL_PREFIX[r.type]}{html.escape(r.repo_id)}'>{html.escape(r.repo_id)}</a></td>"
            f"<td>{html.escape(r.last_modified)}</td></tr>" for r in repos)
        sections.append(f"<h2>{repo_type.title()}s</h2><table>{rows}</table>")
    body = "".join(sections) or "<p>No public repos yet. Push one with <code>embrace hub upload</code>.</p>"
    return _page("embrace hub", f"<h1>embrace hub</h1>{body}")


def _render_markdown(text: str) -> str:
    """README without its YAML front matter, escaped; headings bold, the rest kept as written."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    lines = []
    for line in html.escape(text).splitlines():
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        lines.append(f"<strong>{heading.group(2)}</strong>" if heading else line)
    return "\n".join(lines)


def repo_page(ctx: HubContext, repo_type: str, repo_id: str) -> HTMLResponse:
    try:
        repo = ctx.repo_for_read(repo_type, repo_id, Principal(None))
    except HubError:
        return _page("Not found", "<h1>404</h1><p>No such public repo.</p>")
    sha = ctx.storage.resolve(repo, "main") or ""
    files = ctx.storage.list_files(repo, sha)
    prefix = URL_PREFIX[repo.type]
    rows = "".join(
        f"<tr><td><a href='/{prefix}{html.escape(repo.repo_id)}/resolve/main/{html.escape(path)}'>"
        f"{html.escape(path)}</a></td><td>{_size(f.size)}</td><td>{'LFS' if f.lfs else ''}</td></tr>"
        for path, f in files.items())
    readme = readme_of(ctx, repo)
    card = f"<h2>Model card</h2><div class='card'>{_render_markdown(readme)}</div>" if readme else ""
    body = (f"<p><a href='/'>embrace hub</a> / {repo.type}</p><h1>{html.escape(repo.repo_id)} "
            f"<small>{sha[:10]}</small></h1>{card}<h2>Files</h2><table>{rows}</table>"
            f"<p>Download: <code>embrace download {html.escape(repo.repo_id)}</code></p>")
    return _page(repo.repo_id, body)


def readme_of(ctx: HubContext, repo: Repo) -> str | None:
    """The README.md of ``main``, for the web page."""
    sha = ctx.storage.resolve(repo, "main")
    entry = ctx.storage.get_file(repo, sha, "README.md") if sha else None
    if entry is None or entry.size > 1 << 20:
        return None
    return ctx.blobs.path(entry.sha256).read_text("utf-8", "replace")
