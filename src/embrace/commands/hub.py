"""``embrace hub serve|adduser|addorg|token|login|whoami|upload`` and ``embrace download``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from embrace.hub.server.app import create_app

    app = create_app(args.data, multipart_chunk_size=args.multipart_chunk_size)
    print(f"embrace hub: serving {args.data} on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, h11_max_incomplete_event_size=16384,
                timeout_keep_alive=30)
    return 0


def _storage(data: str) -> Any:
    from embrace.hub.server.sqlite_store import SQLiteStorage

    return SQLiteStorage(f"{data}/hub.sqlite3")


def _adduser(args: argparse.Namespace) -> int:
    store = _storage(args.data)
    store.create_user(args.name, fullname=args.fullname or args.name)
    for org in args.org or []:
        if store.get_user(org) is None:
            store.create_user(org, is_org=True)
        store.add_member(org, args.name)
    print(store.create_token(args.name, role=args.role, display_name="cli"))
    return 0


def _addorg(args: argparse.Namespace) -> int:
    store = _storage(args.data)
    if store.get_user(args.name) is None:
        store.create_user(args.name, is_org=True)
    for member in args.member or []:
        store.add_member(args.name, member)
    return 0


def _token(args: argparse.Namespace) -> int:
    store = _storage(args.data)
    if store.get_user(args.name) is None:
        print(f"embrace: error: no user {args.name!r}; create it with `embrace hub adduser`.", file=sys.stderr)
        return 1
    print(store.create_token(args.name, role=args.role, display_name=args.display_name))
    return 0


def _grant(args: argparse.Namespace) -> int:
    store = _storage(args.data)
    namespace, _, name = args.repo_id.partition("/")
    repo = store.get_repo(args.repo_type, namespace, name)
    if repo is None or store.get_user(args.user) is None:
        print(f"embrace: error: no {args.repo_type} repo {args.repo_id!r} or no user {args.user!r}.", file=sys.stderr)
        return 1
    store.grant_gated_access(repo, args.user)
    return 0


def _gc(args: argparse.Namespace) -> int:
    from embrace.hub.server.blobs import BlobStore

    removed, freed = BlobStore(args.data).collect_garbage(_storage(args.data).referenced_blobs())
    print(f"removed {removed} unreferenced blob(s), freed {freed / 1e6:.1f} MB")
    return 0


def _login(args: argparse.Namespace) -> int:
    from embrace.hub import login

    token = args.token or input("Token: ").strip()
    info = login(token, endpoint=args.endpoint, verify=not args.no_verify)
    print(f"Logged in as {info['name']}" if info else "Token saved.")
    return 0


def _whoami(args: argparse.Namespace) -> int:
    from embrace.hub import HfApi

    print(json.dumps(HfApi(endpoint=args.endpoint).whoami(), indent=2))
    return 0


def _upload(args: argparse.Namespace) -> int:
    from pathlib import Path

    from embrace.hub import HfApi

    api = HfApi(endpoint=args.endpoint)
    url = api.create_repo(args.repo_id, repo_type=args.repo_type, private=args.private or None, exist_ok=True)
    path = Path(args.local_path)
    message = args.commit_message or f"Upload {path.name}"
    if path.is_dir():
        info = api.upload_folder(folder_path=path, repo_id=url.repo_id, path_in_repo=args.path_in_repo,
                                 repo_type=args.repo_type, revision=args.revision, commit_message=message)
    else:
        info = api.upload_file(path_or_fileobj=path, path_in_repo=args.path_in_repo or path.name,
                               repo_id=url.repo_id, repo_type=args.repo_type, revision=args.revision,
                               commit_message=message)
    print(info.commit_url)
    return 0


def _download(args: argparse.Namespace) -> int:
    from embrace.hub import hf_hub_download, snapshot_download

    common = {"repo_type": args.repo_type, "revision": args.revision, "local_dir": args.local_dir,
              "cache_dir": args.cache_dir, "endpoint": args.endpoint}
    if args.filenames:
        for name in args.filenames:
            print(hf_hub_download(args.repo_id, name, **common))
    else:
        print(snapshot_download(args.repo_id, allow_patterns=args.include, ignore_patterns=args.exclude,
                                max_workers=args.max_workers, **common))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    hub = subparsers.add_parser(
        "hub", help="run a self-hosted hub server, manage users, log in, upload",
        description="Hub server and client commands. Uploads with the huggingface_hub client to this server need "
                    "HF_HUB_DISABLE_XET=1.", formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  embrace hub adduser alice --data ./hubdata --org acme   # prints alice's write token\n"
               "  embrace hub serve --data ./hubdata --port 8080\n"
               "  HF_ENDPOINT=http://127.0.0.1:8080 HF_TOKEN=hf_... embrace hub upload alice/model ./ckpt\n"
               "  HF_ENDPOINT=http://127.0.0.1:8080 HF_HUB_DISABLE_XET=1 python train_and_push.py")
    sub = hub.add_subparsers(dest="hub_command", metavar="HUB_COMMAND")

    serve = sub.add_parser("serve", help="serve a Hugging Face Hub compatible server over HTTP")
    serve.add_argument("--data", required=True, help="data folder (SQLite metadata + content-addressed blobs)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--log-level", default="warning")
    serve.add_argument("--multipart-chunk-size", type=int, default=64 * 1024 * 1024, metavar="BYTES",
                       help="LFS files above this size are uploaded in parts of this size (default 64 MiB)")
    serve.set_defaults(func=_serve)

    adduser = sub.add_parser("adduser", help="create a user and print a new token for it")
    adduser.add_argument("name")
    adduser.add_argument("--data", required=True)
    adduser.add_argument("--fullname")
    adduser.add_argument("--org", action="append", help="organisation to join (created if missing); repeatable")
    adduser.add_argument("--role", choices=["read", "write"], default="write")
    adduser.set_defaults(func=_adduser)

    addorg = sub.add_parser("addorg", help="create an organisation and add members")
    addorg.add_argument("name")
    addorg.add_argument("--data", required=True)
    addorg.add_argument("--member", action="append")
    addorg.set_defaults(func=_addorg)

    token = sub.add_parser("token", help="print a new token for an existing user")
    token.add_argument("name")
    token.add_argument("--data", required=True)
    token.add_argument("--role", choices=["read", "write"], default="read")
    token.add_argument("--display-name", default="cli")
    token.set_defaults(func=_token)

    grant = sub.add_parser("grant", help="let a user download a gated repo")
    grant.add_argument("repo_id")
    grant.add_argument("user")
    grant.add_argument("--data", required=True)
    grant.add_argument("--repo-type", default="model", choices=["model", "dataset", "space"])
    grant.set_defaults(func=_grant)

    gc = sub.add_parser("gc", help="delete blobs no repo references any more (run while the server is stopped)")
    gc.add_argument("--data", required=True)
    gc.set_defaults(func=_gc)

    for name, func, text in (("login", _login, "save a token to $HF_HOME/token"),
                             ("whoami", _whoami, "show the user of the saved token")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--endpoint", help="hub URL (default HF_ENDPOINT or https://huggingface.co)")
        if name == "login":
            command.add_argument("--token")
            command.add_argument("--no-verify", action="store_true", help="save without calling whoami")
        command.set_defaults(func=func)

    upload = sub.add_parser("upload", help="upload a file or folder to a repo (created if missing)")
    upload.add_argument("repo_id")
    upload.add_argument("local_path")
    upload.add_argument("path_in_repo", nargs="?")
    upload.add_argument("--repo-type", default="model", choices=["model", "dataset", "space"])
    upload.add_argument("--revision")
    upload.add_argument("--private", action="store_true")
    upload.add_argument("--commit-message")
    upload.add_argument("--endpoint")
    upload.set_defaults(func=_upload)

    download = subparsers.add_parser(
        "download", help="download a repo or some of its files into the HF cache",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  embrace download sentence-transformers/all-MiniLM-L6-v2 --include '*.json' '*.safetensors'\n"
               "  embrace download acme/tiny-model config.json --revision v1.0\n"
               "  embrace download acme/tiny-data --repo-type dataset --local-dir ./data")
    download.add_argument("repo_id")
    download.add_argument("filenames", nargs="*", help="only these files (default: the whole repo)")
    download.add_argument("--repo-type", default="model", choices=["model", "dataset", "space"])
    download.add_argument("--revision")
    download.add_argument("--include", nargs="+", help="glob patterns to keep")
    download.add_argument("--exclude", nargs="+", help="glob patterns to skip")
    download.add_argument("--local-dir")
    download.add_argument("--cache-dir")
    download.add_argument("--max-workers", type=int, default=8)
    download.add_argument("--endpoint")
    download.set_defaults(func=_download)
    hub.set_defaults(func=lambda _args: hub.print_help() or 2)
