"""``python -m ddcsem``: the command-line interface."""

from .cli import run

run()
