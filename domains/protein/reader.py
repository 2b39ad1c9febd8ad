"""Reading protein families: FASTA (aligned or not), Stockholm and Clustal, via Biopython.

:func:`read_sequences` returns a :class:`ProteinSequences`: the record ids in file order,
the sequences cleaned by :func:`~symcl.domains.protein.alphabet.clean_sequence`, and
whether they are the rows of a multiple alignment. Stockholm and Clustal files are
alignments. A FASTA file is taken as aligned when all its records have the same length
and at least one holds a gap character (``-`` or ``.``); ``aligned=True`` or ``False``
overrides that. Empty records, duplicate ids, invalid letters and nucleotide sequences
are errors naming the file and the record.
"""

from __future__ import annotations

import gzip
import io
import os
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from Bio import AlignIO, SeqIO

from symcl.errors import UserInputError
from symcl.text import DECODE_ERRORS

from .alphabet import clean_sequence

#: Supported formats, as Biopython names them.
FORMATS = ("fasta", "stockholm", "clustal")
#: What the first non-blank line of a file of each format starts with.
_MAGIC = {"fasta": (">",), "stockholm": ("# STOCKHOLM",), "clustal": ("CLUSTAL", "MUSCLE", "PROBCONS")}
_GZIP_MAGIC = b"\x1f\x8b"


class RaggedAlignmentWarning(UserWarning):
    """A FASTA file has gap characters but rows of different lengths; it is read as unaligned and realigned."""


@dataclass(frozen=True)
class ProteinSequences(Sequence[str]):
    """The sequences of one protein family, in file order.

    Behaves as a sequence of the cleaned sequence strings, so it can be passed to
    :func:`~symcl.domains.protein.distance.distance_matrix` directly.

    Attributes
    ----------
    ids : tuple of str
        Record ids, unique, in input order.
    sequences : tuple of str
        Cleaned sequences (see :mod:`~symcl.domains.protein.alphabet`); alignment rows
        with ``-`` gaps when ``aligned``.
    aligned : bool
        True when the sequences are the rows of a multiple alignment (same length).
    source : str
        The file they were read from ("" when built in Python).
    """

    ids: tuple[str, ...]
    sequences: tuple[str, ...]
    aligned: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.sequences):
            raise ValueError(
                f"ProteinSequences needs one id per sequence. Got {len(self.ids)} ids and "
                f"{len(self.sequences)} sequences instead."
            )

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index):  # type: ignore[override]
        return self.sequences[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self.sequences)


def detect_format(path: str | os.PathLike) -> str:
    """The format of a protein file from its first non-blank line: "fasta", "stockholm" or "clustal".

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    UserInputError
        The file is empty or starts like none of the supported formats.
    """
    path = Path(path)
    head = _read_text(path).lstrip()[:40]
    for fmt, starts in _MAGIC.items():
        if head.startswith(starts):
            return fmt
    if not head:
        raise UserInputError(f"{path}: the file is empty; there are no sequence records to read")
    raise UserInputError(
        f"{path}: unknown format: FASTA starts with '>', Stockholm with '# STOCKHOLM' and Clustal with 'CLUSTAL', "
        f"but this file starts with {head[:20]!r}"
    )


def read_sequences(
    path: str | os.PathLike,
    *,
    format: str | None = None,
    aligned: bool | None = None,
) -> ProteinSequences:
    """Read a protein family from a FASTA, Stockholm or Clustal file (plain or gzipped).

    Parameters
    ----------
    path : str or PathLike
        The file.
    format : {"fasta", "stockholm", "clustal"}, optional
        Skip the detection of :func:`detect_format`.
    aligned : bool, optional
        None (default): Stockholm and Clustal are alignments; FASTA is one when all
        records have the same length and at least one has a gap. True: the records must
        be alignment rows of equal length. False: gaps and stops are removed and the
        sequences will be aligned pairwise.

    Returns
    -------
    ProteinSequences

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    UserInputError
        Unknown or malformed format, no records, several alignments in one file, an
        empty record, a duplicate id, an invalid character, a nucleotide sequence, or
        ``aligned=True`` with rows of different lengths. The message names the file and
        the record.
    """
    path = Path(path)
    if format is None:
        format = detect_format(path)
    elif format not in FORMATS:
        raise ValueError(f"The 'format' parameter of read_sequences must be one of {FORMATS}. Got {format!r} instead.")
    if aligned not in (None, True, False):
        raise TypeError(
            f"The 'aligned' parameter of read_sequences must be None, True or False. Got {aligned!r} instead."
        )
    raw = _parse(path, format)
    if not raw:
        raise UserInputError(f"{path}: no sequence records found")
    seen: set[str] = set()
    for number, (rid, _) in enumerate(raw, start=1):
        if not rid.strip():  # a bare '>': the TSV and the tree would get a nameless row and leaf
            raise UserInputError(f"{path}: record {number} has no id; every record needs one")
        if rid in seen:
            raise UserInputError(f"{path}: duplicate record id {rid!r}; record ids must be unique within a file")
        seen.add(rid)
    if aligned is None:
        aligned = format != "fasta" or _looks_aligned([text for _, text in raw])
        if not aligned:
            _warn_if_ragged(path, [text for _, text in raw])
    if aligned:
        lengths = {len(text) for _, text in raw}
        if len(lengths) > 1:
            first = len(raw[0][1])
            rid, text = next((rid, text) for rid, text in raw if len(text) != first)
            raise UserInputError(
                f"{path}: record {rid!r} has {len(text)} columns but record {raw[0][0]!r} has {first}; "
                f"the rows of an alignment must all have the same length (read it as unaligned: aligned=False, or --realign)"
            )
    sequences = tuple(clean_sequence(text, aligned=aligned, record=rid, source=str(path)) for rid, text in raw)
    return ProteinSequences(tuple(rid for rid, _ in raw), sequences, aligned=aligned, source=str(path))


def _warn_if_ragged(path: Path, texts: list[str]) -> None:
    """Warn that gapped rows of different lengths (an alignment with trailing gaps stripped, say) are realigned:
    the distances then differ from the alignment's."""
    lengths = {len(text) for text in texts}
    if len(lengths) > 1 and any(("-" in text or "." in text) for text in texts):
        warnings.warn(
            f"{path}: has gap characters but its rows differ in length ({min(lengths)} to {max(lengths)}): read as "
            "unaligned and realigned (--aligned, or aligned=True in Python, refuses it)",
            RaggedAlignmentWarning,
            stacklevel=3,
        )


def _looks_aligned(texts: list[str]) -> bool:
    return len({len(text) for text in texts}) == 1 and any(("-" in text or "." in text) for text in texts)


def _parse(path: Path, format: str) -> list[tuple[str, str]]:
    text = _read_text(path)
    # Blank lines before the first record are harmless, but Biopython's FASTA parser refuses them.
    handle = io.StringIO(text.lstrip() if format == "fasta" else text)
    try:
        if format == "fasta":
            return [(record.id, str(record.seq)) for record in SeqIO.parse(handle, "fasta")]
        alignments = list(AlignIO.parse(handle, format))
    except (ValueError, IndexError, AssertionError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserInputError(f"{path}: not a valid {format} file ({first_line})") from None
    if len(alignments) > 1:
        raise UserInputError(f"{path}: holds {len(alignments)} alignments; give one protein family per file")
    return [(record.id, str(record.seq)) for alignment in alignments for record in alignment]


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, not a sequence file")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise UserInputError(f"{path}: damaged gzip file ({error})") from None
    # -sig: a byte-order mark is not part of the text; a stray non-UTF-8 byte (a Windows-1252
    # header, say) is read as latin-1, as the DNA reader does, rather than refusing the file
    text = data.decode("utf-8-sig", errors=DECODE_ERRORS)
    # Biopython splits lines at '\n' only: old-Mac '\r' endings would make the whole file one line
    return text.replace("\r\n", "\n").replace("\r", "\n")
