"""``symcl protein``: the command group of the protein domain (commands arrive with issue 6)."""

from symcl.cli import add_command_group


def register(subparsers) -> None:
    add_command_group(subparsers, "protein", "alignment-distance regression for protein families")
