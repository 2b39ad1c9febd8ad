"""dna: strand-invariant embeddings for metagenomics (issue 4).

A DNA fragment and its reverse complement carry the same information, so they are a
free positive pair. This package provides the alphabet (IUPAC reverse complement on
uint8 arrays), streaming FASTA/FASTQ/GenBank input, the canonical tetranucleotide
frequency (TNF) baseline, the view generator, the encoders and the pipeline functions::

    from symcl.domains import dna

    records = list(dna.read_records("contigs.fa.gz", min_length=1000))  # a generator: list() to index
    records[0].text                                      # the sequence as a str (.seq: uint8 array)
    baseline = dna.tnf(records)                          # (n, 136)
    model = dna.load_pretrained()                        # or dna.load_model("runs/dna")
    result = dna.embed_sequences(model, records)         # windows of the model's training length
    result.embeddings                                    # (n, dim), same for either strand
    bins = dna.bin_contigs(result.embeddings, n_bins=10)  # contig -> bin; n_bins=None: by silhouette

Encoders: :class:`CodonPhaseEncoder` (the default; canonical k-mer embeddings pooled
per codon phase, read in every frame order, so exactly strand-invariant),
:class:`KmerBagEncoder` (canonical k-mer embeddings shared by a k-mer and its reverse
complement, pooled over all positions; exactly strand-invariant and the fastest),
:class:`StrandInvariantCNN` (conjoined ``head(h(x) + h(rc(x)))``) and :class:`PlainCNN`
(learns invariance from the views only, for comparison).

On the command line: ``symcl dna train``, ``symcl dna embed`` and ``symcl dna bin``.
"""

from .alphabet import (
    CODE_N,
    CODE_PAD,
    IUPAC_COMPLEMENT,
    decode,
    encode,
    reverse_complement,
    reverse_complement_codes,
    to_codes,
)
from .binning import bin_contigs, choose_bins, save_bins, standardised_log_ratios, tnf_binning_features
from .codon_encoder import phase_bags
from .embedding import SequenceEmbeddings, embed_sequences, save_embeddings, strand_invariance, window_starts
from .encoders import (
    CodonPhaseEncoder,
    KmerBagEncoder,
    PlainCNN,
    StrandInvariantCNN,
    build_encoder,
    one_hot,
    reverse_complement_batch,
)
from .kmer_encoder import kmer_classes
from .models import (
    ProjectedContrastive,
    load_model,
    load_pretrained,
    pretrained_directory,
    read_model_config,
    train,
)
from .reader import ReadSummary, Record, ShortRecordsWarning, detect_format, read_records
from .tnf import canonical_kmer_counts, canonical_kmers, kmer_frequencies, tnf
from .views import DnaViews, exclusion_mask, sequencing_errors

__all__ = [
    "CODE_N",
    "CODE_PAD",
    "CodonPhaseEncoder",
    "IUPAC_COMPLEMENT",
    "DnaViews",
    "KmerBagEncoder",
    "PlainCNN",
    "ProjectedContrastive",
    "ReadSummary",
    "Record",
    "SequenceEmbeddings",
    "ShortRecordsWarning",
    "StrandInvariantCNN",
    "bin_contigs",
    "build_encoder",
    "canonical_kmer_counts",
    "canonical_kmers",
    "choose_bins",
    "decode",
    "detect_format",
    "embed_sequences",
    "encode",
    "exclusion_mask",
    "kmer_classes",
    "kmer_frequencies",
    "load_model",
    "load_pretrained",
    "one_hot",
    "phase_bags",
    "pretrained_directory",
    "read_model_config",
    "read_records",
    "reverse_complement",
    "reverse_complement_batch",
    "reverse_complement_codes",
    "save_bins",
    "save_embeddings",
    "sequencing_errors",
    "standardised_log_ratios",
    "tnf_binning_features",
    "strand_invariance",
    "tnf",
    "to_codes",
    "train",
    "window_starts",
]
