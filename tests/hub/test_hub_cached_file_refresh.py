"""``cached_file`` (behind every ``from_pretrained("org/name")``) re-checks a cached branch online with one HEAD,
like the reference: a newer ``main`` is seen; offline, with the hub down, or for a commit sha the cache answers."""

from __future__ import annotations

import pytest
from hub_helpers import HubServer

from embrace.hub import HfApi, cached_file, download


def _push(api: HfApi, repo: str, text: str) -> str:
    return api.upload_file(path_or_fileobj=text.encode(), path_in_repo="notes.txt", repo_id=repo).oid


def test_cached_branch_is_revalidated_online(online: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    api = HfApi()
    api.create_repo("refresh-me", exist_ok=True)
    first = _push(api, "alice/refresh-me", "version 1")
    assert cached_file("alice/refresh-me", "notes.txt").read_text() == "version 1"
    second = _push(api, "alice/refresh-me", "version 2")
    assert cached_file("alice/refresh-me", "notes.txt").read_text() == "version 2"  # main moved: seen
    # a sha is immutable: served from the cache (v1 is not cached, so it is downloaded once, then cached)
    assert cached_file("alice/refresh-me", "notes.txt", revision=first).read_text() == "version 1"
    # a file added on the hub after the cache recorded it as missing is found online
    assert cached_file("alice/refresh-me", "extra.txt", missing_ok=True) is None
    api.upload_file(path_or_fileobj=b"late", path_in_repo="extra.txt", repo_id="alice/refresh-me")
    assert cached_file("alice/refresh-me", "extra.txt", missing_ok=True).read_text() == "late"
    assert cached_file("alice/refresh-me", "notes.txt").read_text() == "version 2"  # cached at the new head

    online.stop()  # hub unreachable: the cached head answers, and for 30 s no other file waits for the hub
    try:
        assert cached_file("alice/refresh-me", "notes.txt").read_text() == "version 2"
        assert online.url in download._unreachable_since
        assert cached_file("alice/refresh-me", "extra.txt").read_text() == "late"
        assert cached_file("alice/refresh-me", "notes.txt", revision=first).read_text() == "version 1"
        assert cached_file("alice/refresh-me", "absent.txt", missing_ok=True) is None
    finally:
        online.start()
        download._unreachable_since.clear()
    _push(api, "alice/refresh-me", "version 3")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline: no request, the cached ref answers
    assert cached_file("alice/refresh-me", "notes.txt").read_text() == "version 2"
    assert second != first
