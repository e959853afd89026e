"""``python -m modalign`` = the ``modalign`` command (used by torchrun)."""

from .cli import main

main()
