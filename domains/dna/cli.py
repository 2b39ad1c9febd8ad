"""``symcl dna``: the command group of the dna domain (commands arrive with issue 4)."""

from symcl.cli import add_command_group


def register(subparsers) -> None:
    add_command_group(subparsers, "dna", "strand-invariant DNA embeddings for metagenomics")
