"""``embrace env``: versions, devices and cache locations, for bug reports."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("env", help="print versions, devices and cache folders",
                                   description=__doc__, epilog="example:\n  embrace env --json",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def collect() -> dict[str, Any]:
    from embrace import __version__
    from embrace.hub.constants import endpoint, hf_home, hub_cache_dir, is_offline

    info: dict[str, Any] = {
        "embrace": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "hf_home": str(hf_home()),
        "hub_cache": str(hub_cache_dir()),
        "hub_endpoint": endpoint(),
        "offline": is_offline(),
    }
    for package in ("torch", "numpy", "safetensors", "pyarrow", "jinja2", "httpx", "fastapi", "uvicorn"):
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = None
    try:
        import torch

        info["cuda"] = torch.cuda.is_available() and torch.cuda.get_device_name(0)
        info["mps"] = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:>14}: {value}")
    return 0
