"""Allow `python -m tsattn`."""

from tsattn.cli import main

main()
