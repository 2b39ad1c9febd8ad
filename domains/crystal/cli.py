"""``symcl crystal``: the command group of the crystal domain (commands arrive with issue 5)."""

from symcl.cli import add_command_group


def register(subparsers) -> None:
    add_command_group(subparsers, "crystal", "lattice-translation embeddings of microscopy defects")
