"""`import embrace` stays light, and embrace code never imports the libraries it replaces."""

from __future__ import annotations

import json
import subprocess
import sys

REPLACED = ["transformers", "tokenizers", "datasets", "evaluate", "peft", "accelerate", "huggingface_hub",
            "diffusers", "gradio", "sentence_transformers"]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         check=True, capture_output=True, text=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_embrace_is_light() -> None:
    modules = _modules_after("import embrace")
    heavy = {"torch", "numpy", "pyarrow", "pandas", "jinja2", "fastapi", "httpx", "safetensors"} & modules
    assert not heavy, f"import embrace pulled in {heavy}"


def test_unknown_attribute_raises() -> None:
    import embrace

    try:
        embrace.NotAThing  # noqa: B018
    except AttributeError as exc:
        assert "NotAThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_using_embrace_never_imports_replaced_libraries() -> None:
    code = (
        "import embrace, embrace.models.auto, embrace.hub, embrace.cli\n"
        "import importlib, pkgutil\n"
        "for m in pkgutil.walk_packages(embrace.__path__, 'embrace.'):\n"
        "    try: importlib.import_module(m.name)\n"
        "    except ImportError as e: print('skip', m.name, e)\n"
    )
    modules = _modules_after(code)
    leaked = {m.split(".")[0] for m in modules} & set(REPLACED)
    assert not leaked, f"embrace imported {leaked}"


def test_tests_import_shared_helpers_by_package_path() -> None:
    """`from conftest import ...` picks whichever conftest.py was imported first (tests/hub has its own); use
    `from tests.conftest import ...`."""
    from pathlib import Path

    offenders = [str(p) for p in Path(__file__).parent.rglob("*.py") if "from conftest import" in p.read_text()
                 and p.name != "test_import.py"]
    assert not offenders, offenders
