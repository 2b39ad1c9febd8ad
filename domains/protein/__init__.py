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

an alignment-free route, which compares the spaced k-mers two sequences share (no
alignment, no training; approximate, for ranks and trees within a family)::

    d_free = protein.spectrum_distances(family)               # (n, n), sparse products

and the Siamese route: an encoder trained to predict those distances from embeddings, so
N sequences are embedded once and all N^2 distances are one ``torch.cdist``::

    model = protein.load_pretrained()                        # or load_model(DIR) of `symcl protein train`
    d_hat = protein.predicted_distance_matrix(model, family)  # (n, n), no alignment
    tree = protein.nj_tree(d_hat, family.ids)

Training data come from the shipped families and from families simulated under LG +
gamma along random trees (``protein.simulate_family``), whose true trees are kept.
"""

from .alignment import GAP_EXTEND, GAP_OPEN, AlignmentStats, alignment_stats, make_aligner, msa_stats, pair_stats
from .alphabet import STANDARD, clean_sequence
from .distance import MIN_COLUMNS, SaturationWarning, ShortSequenceWarning, distance_matrix, pseudo_distance
from .encoder import PAD_CODE, ProteinCNN, build_encoder, encode_batch
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
from .head import cross_distances, pair_distance
from .kmer import kmer_cosine_distances, kmer_counts, kmer_indices
from .kmer_encoder import ProteinKmerBag
from .model import (
    DistanceRegression,
    distance_loss,
    embed_sequences,
    load_model,
    load_pretrained,
    predicted_distance_matrix,
    pretrained_directory,
    read_model_config,
    regression_evaluator,
    train,
)
from .pairs import DEFAULT_BIN_EDGES, FamilyDistances, PairSampler, family_distances, simulated_families
from .reader import FORMATS, ProteinSequences, RaggedAlignmentWarning, detect_format, read_sequences
from .simulate import SimulatedFamily, evolve, patristic_distances, random_tree, simulate_family
from .spectrum import ALPHABETS, DEFAULT_SEEDS, spectrum_distances, spectrum_matrix
from .substitution import AMINO_ACIDS, SubstitutionModel, gamma_rates, lg_model, read_paml_model, substitution_model
from .tree import bipartitions, nj_tree, robinson_foulds, to_newick, write_newick

__all__ = [
    "ALPHABETS",
    "AMINO_ACIDS",
    "BLOSUM62_EXPECTED_SCORE",
    "DEFAULT_BIN_EDGES",
    "DEFAULT_SEEDS",
    "FORMATS",
    "GAP_EXTEND",
    "GAP_OPEN",
    "MAX_DISTANCE",
    "METHODS",
    "MIN_COLUMNS",
    "PAD_CODE",
    "SCOREDIST_CALIBRATION",
    "STANDARD",
    "AlignmentStats",
    "DistanceRegression",
    "FamilyDistances",
    "PairSampler",
    "ProteinCNN",
    "ProteinKmerBag",
    "ProteinSequences",
    "RaggedAlignmentWarning",
    "SaturationWarning",
    "ShortSequenceWarning",
    "SimulatedFamily",
    "SubstitutionModel",
    "alignment_stats",
    "bipartitions",
    "build_encoder",
    "clean_sequence",
    "cross_distances",
    "detect_format",
    "distance_loss",
    "distance_matrix",
    "distances_from_stats",
    "embed_sequences",
    "encode_batch",
    "evolve",
    "family_distances",
    "gamma_rates",
    "kimura_distance",
    "kmer_cosine_distances",
    "kmer_counts",
    "kmer_indices",
    "lg_model",
    "load_model",
    "load_pretrained",
    "make_aligner",
    "msa_stats",
    "nj_tree",
    "p_distance",
    "pair_distance",
    "pair_stats",
    "patristic_distances",
    "poisson_distance",
    "predicted_distance_matrix",
    "pretrained_directory",
    "pseudo_distance",
    "random_tree",
    "read_model_config",
    "read_paml_model",
    "read_sequences",
    "regression_evaluator",
    "robinson_foulds",
    "saturate",
    "scoredist",
    "simulate_family",
    "simulated_families",
    "spectrum_distances",
    "spectrum_matrix",
    "substitution_model",
    "to_newick",
    "train",
    "write_newick",
]
