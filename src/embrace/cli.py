"""The ``embrace`` command. Each area adds its subcommands through a ``register(subparsers)`` function in its own
module (listed in ``_COMMAND_MODULES``), so this file stays a small dispatcher and ``embrace --help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# modules exposing register(subparsers: argparse._SubParsersAction) -> None
_COMMAND_MODULES = [
    "embrace.commands.run",
    "embrace.commands.chat",
    "embrace.commands.env",
    "embrace.commands.hub",
    "embrace.commands.train",
    "embrace.commands.serve",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embrace",
        description="Run, train, evaluate, serve and share Hugging Face-format models.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'embrace COMMAND --help' for the examples of each command.",
    )
    from embrace import __version__

    parser.add_argument("--version", action="version", version=f"embrace {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # an area whose optional dependencies are not installed
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # argparse cannot put positionals after options into a nargs="*" positional ("run TASK --model M text text");
    # hand such leftovers to a command's `inputs` list
    args, extra = parser.parse_known_args(argv)
    if extra:
        if isinstance(getattr(args, "inputs", None), list) and not any(e.startswith("-") for e in extra):
            args.inputs += extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the message of a typed embrace error is meant for the user
        from embrace.errors import EmbraceError

        if isinstance(exc, EmbraceError | FileNotFoundError | ValueError):
            print(f"embrace: error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
