"""protein: alignment-derived evolutionary distances for protein families (issue 6).

Proteins do not split into "same" and "different": the question is "how far apart?".
This package holds the classical route, which aligns sequences and turns the alignment
into a distance (p, Poisson, Kimura 1983 or Scoredist), and neighbour-joining trees::

    from symcl.domains import protein

    family = protein.read_sequences("globins.fa")            # FASTA, Stockholm or Clustal
    d = protein.distance_matrix(family, method="scoredist")  # (n, n), all pairs in parallel
    tree = protein.nj_tree(d, family.ids)
    protein.write_newick(tree, "globins.nwk")
    protein.pseudo_distance("MVLSPADKTNVKAAW", "MVHLTPEEKSAVTAL", method="kimura")
"""

from .alignment import GAP_EXTEND, GAP_OPEN, AlignmentStats, alignment_stats, make_aligner, msa_stats, pair_stats
from .alphabet import STANDARD, clean_sequence
from .distance import SaturationWarning, distance_matrix, pseudo_distance
from .formulas import (
    BLOSUM62_EXPECTED_SCORE,
    MAX_DISTANCE,
    METHODS,
    SCOREDIST_CALIBRATION,
    distances_from_stats,
    kimura_distance,
    p_distance,
    poisson_distance,
    saturate,
    scoredist,
)
from .reader import FORMATS, ProteinSequences, detect_format, read_sequences
from .tree import bipartitions, nj_tree, robinson_foulds, to_newick, write_newick

__all__ = [
    "BLOSUM62_EXPECTED_SCORE",
    "FORMATS",
    "GAP_EXTEND",
    "GAP_OPEN",
    "MAX_DISTANCE",
    "METHODS",
    "SCOREDIST_CALIBRATION",
    "STANDARD",
    "AlignmentStats",
    "ProteinSequences",
    "SaturationWarning",
    "alignment_stats",
    "bipartitions",
    "clean_sequence",
    "detect_format",
    "distance_matrix",
    "distances_from_stats",
    "kimura_distance",
    "make_aligner",
    "msa_stats",
    "nj_tree",
    "p_distance",
    "pair_stats",
    "poisson_distance",
    "pseudo_distance",
    "read_sequences",
    "robinson_foulds",
    "saturate",
    "scoredist",
    "to_newick",
    "write_newick",
]
