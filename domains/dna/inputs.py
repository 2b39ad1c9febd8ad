"""The many ways a user hands over DNA sequences, reduced to (id, sequence) pairs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord

from .alphabet import SequenceLike

ONE_SEQUENCE = (str, bytes, bytearray, Seq)


def named_sequences(seqs: object, function: str) -> Iterator[tuple[str | None, SequenceLike]]:
    """(id, sequence) of each sequence in ``seqs``; id None when unnamed.

    ``seqs`` is one sequence (str, bytes, Bio.Seq or 1-D uint8 array), one SeqRecord, a
    mapping of id to sequence, or an iterable of sequences, Records, SeqRecords or
    (id, sequence) pairs. A mapping is read as id -> sequence: iterating it would give
    its ids, which look like DNA when they are made of nucleotide letters ("chrM").
    """
    if isinstance(seqs, ONE_SEQUENCE) or (isinstance(seqs, np.ndarray) and seqs.ndim == 1):
        yield None, seqs
        return
    if isinstance(seqs, np.ndarray):
        raise TypeError(f"The 'seqs' parameter of {function} must be sequences, not a {seqs.ndim}-D array.")
    if isinstance(seqs, SeqRecord):
        yield seqs.id, seqs.seq
        return
    items: Iterable = seqs.items() if isinstance(seqs, Mapping) else seqs
    for item in items:
        if isinstance(item, SeqRecord):
            yield item.id, item.seq
        elif isinstance(item, tuple):  # Record, (id, seq) or (id, SeqRecord) as SeqIO.to_dict gives
            yield str(item[0]), item[1].seq if isinstance(item[1], SeqRecord) else item[1]
        else:
            yield None, item
