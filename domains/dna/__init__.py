"""dna: strand-invariant embeddings for metagenomics (issue 4)."""
