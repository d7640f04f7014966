"""Subcommands of the `embrace` CLI, one module each with a register(subparsers) function."""
