"""The command-line interface: the only part of tsattn that talks to people or streams."""

from tsattn.cli.app import app, main

__all__ = ["app", "main"]
