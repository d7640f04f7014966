"""Multipart LFS uploads (HUB_PROTOCOL.md §6.5): the server splits objects above its chunk size into signed part
URLs plus a completion URL; the REAL huggingface_hub client and embrace's client both upload through it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import httpx
import pytest
from hub_helpers import MULTIPART_CHUNK, HubServer, run_reference

from embrace.hub import HfApi, hf_hub_download

SIZE = 2 * MULTIPART_CHUNK + 12345  # three parts, the last one short


def _batch(hub: HubServer, repo: str, data: bytes) -> dict:
    payload = {"operation": "upload", "transfers": ["basic", "multipart"], "hash_algo": "sha256",
               "objects": [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}], "ref": {"name": "main"}}
    response = httpx.post(f"{hub.url}/{repo}.git/info/lfs/objects/batch", content=json.dumps(payload),
                          headers={"Authorization": f"Bearer {hub.tokens['alice']}",
                                   "Content-Type": "application/vnd.git-lfs+json"})
    response.raise_for_status()
    return response.json()["objects"][0]


def test_reference_client_uploads_multipart(hub: HubServer, tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    (tmp_path / "big.safetensors").write_bytes(data)
    script = f"""
    import json, pathlib
    from huggingface_hub import HfApi, hf_hub_download
    api = HfApi()
    api.create_repo("multi-ref", exist_ok=True)
    api.upload_file(path_or_fileobj={str(tmp_path / 'big.safetensors')!r}, path_in_repo="big.safetensors",
                    repo_id="alice/multi-ref")
    info = api.model_info("alice/multi-ref", files_metadata=True)
    lfs = {{s.rfilename: s.lfs.sha256 for s in info.siblings if s.lfs}}
    path = hf_hub_download("alice/multi-ref", "big.safetensors")
    print(json.dumps({{"lfs": lfs, "same": pathlib.Path(path).read_bytes() == pathlib.Path(
        {str(tmp_path / 'big.safetensors')!r}).read_bytes()}}))
    """
    out = run_reference(script, endpoint=hub.url, hf_home=tmp_path / "ref_home", token=hub.tokens["alice"])
    assert out == {"lfs": {"big.safetensors": hashlib.sha256(data).hexdigest()}, "same": True}
    assert not (hub.data / "multipart" / hashlib.sha256(data).hexdigest()).exists()  # parts cleaned up


def test_embrace_client_uploads_multipart(online: HubServer) -> None:
    data = os.urandom(SIZE)
    api = HfApi()
    api.create_repo("multi-own", exist_ok=True)
    obj = _batch(online, "alice/multi-own", data)
    header = obj["actions"]["upload"]["header"]
    assert header["chunk_size"] == str(MULTIPART_CHUNK) and sorted(k for k in header if k.isdigit()) == ["1", "2", "3"]
    api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id="alice/multi-own")
    assert Path(hf_hub_download("alice/multi-own", "w.bin")).read_bytes() == data
    assert "actions" not in _batch(online, "alice/multi-own", data)  # stored: nothing to upload again


def test_small_objects_stay_single_part(online: HubServer) -> None:
    hub = online
    HfApi(endpoint=hub.url, token=hub.tokens["alice"]).create_repo("multi-small", exist_ok=True)
    upload = _batch(hub, "alice/multi-small", b"x" * 1000)["actions"]["upload"]
    assert "header" not in upload and "/part/" not in upload["href"]


def test_bad_parts_and_completions_are_refused(online: HubServer) -> None:
    hub = online
    HfApi(endpoint=hub.url, token=hub.tokens["alice"]).create_repo("multi-bad", exist_ok=True)
    data = os.urandom(MULTIPART_CHUNK + 10)
    oid = hashlib.sha256(data).hexdigest()
    upload = _batch(hub, "alice/multi-bad", data)["actions"]["upload"]
    part1, part2, complete = upload["header"]["1"], upload["header"]["2"], upload["href"]
    assert httpx.put(part1, content=data[:100]).status_code == 400  # wrong part size
    assert httpx.put(part1.replace("sig=", "sig=0"), content=data[:MULTIPART_CHUNK]).status_code == 403
    assert httpx.put(part1.replace("/part/1", "/part/3"), content=b"x").status_code == 400  # no such part
    etag1 = httpx.put(part1, content=data[:MULTIPART_CHUNK]).headers["ETag"]
    # completing with a part missing, or with a wrong ETag, is refused and stores nothing
    missing = httpx.post(complete, json={"oid": oid, "parts": [{"partNumber": 1, "etag": etag1}]})
    assert missing.status_code == 400
    bad_etag = httpx.post(complete, json={"oid": oid, "parts": [{"partNumber": 1, "etag": etag1},
                                                                {"partNumber": 2, "etag": '"0"'}]})
    assert bad_etag.status_code == 400
    # a part with the right size but wrong bytes: the joined object fails the sha256 check
    etag2 = httpx.put(part2, content=b"\0" * 10).headers["ETag"]
    parts = [{"partNumber": 1, "etag": etag1}, {"partNumber": 2, "etag": etag2}]
    assert httpx.post(complete, json={"oid": oid, "parts": parts}).status_code == 400
    assert not (hub.data / "blobs" / oid[:2] / oid[2:4] / oid).exists()
    etag2 = httpx.put(part2, content=data[MULTIPART_CHUNK:]).headers["ETag"]
    parts[1]["etag"] = etag2
    assert httpx.post(complete, json={"oid": oid, "parts": parts}).status_code == 200
    assert (hub.data / "blobs" / oid[:2] / oid[2:4] / oid).read_bytes() == data
    assert httpx.put(complete.replace("/complete", ""), content=data).status_code == 400  # single PUT refused


@pytest.mark.parametrize("chunk", [0, -5])
def test_chunk_size_must_be_positive(tmp_path: Path, chunk: int) -> None:
    from embrace.hub.server.context import HubContext

    with pytest.raises(ValueError, match="multipart_chunk_size"):
        HubContext(tmp_path, multipart_chunk_size=chunk)
