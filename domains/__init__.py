"""Domain packages: one per science. Import as ``from symcl.domains import dna``."""
