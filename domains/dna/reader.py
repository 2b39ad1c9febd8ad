"""Streaming input of FASTA, FASTQ and GenBank files, plain or gzipped, via Biopython.

:func:`read_records` is a generator: one record is in memory at a time, so a multi-GB
file streams through. Every sequence is checked against the IUPAC alphabet. Empty
records and duplicate ids are errors; records shorter than ``min_length`` are skipped,
counted in a :class:`ReadSummary` and reported with a warning, never dropped silently.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from Bio import SeqIO
from Bio.Seq import UndefinedSequenceError
from Bio.SeqIO.QualityIO import FastqGeneralIterator

from symcl.errors import UserInputError
from symcl.text import DECODE_ERRORS

from .alphabet import decode, encode

#: File name extensions (after an optional .gz) of each format, as Biopython names it.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "fasta": (".fa", ".fasta", ".fna", ".ffn", ".fas", ".fsa", ".mfa", ".frn", ".seq"),
    "fastq": (".fq", ".fastq"),
    "genbank": (".gb", ".gbk", ".gbff", ".genbank"),
}
#: What a file of each format starts with (after leading blank lines).
_MAGIC = {"fasta": ">", "fastq": "@", "genbank": "LOCUS"}
_GZIP_MAGIC = b"\x1f\x8b"
#: What reading a damaged or unreadable file raises.
_READ_ERRORS = (ValueError, AssertionError, EOFError, OSError, zlib.error)
_BAD_QUALITY = re.compile(r"[^!-~]")  # Phred+33 qualities are '!' to '~'


class Record(NamedTuple):
    """One sequence record.

    Attributes
    ----------
    id : str
        The record identifier (first word of a FASTA/FASTQ header, GenBank VERSION).
    seq : ndarray
        ``uint8`` ASCII text, shape (L,), case and IUPAC codes as in the file: an array,
        not a str (1 byte per base, sliced without copying). :attr:`text` is the str.
    description : str
        The rest of the header line, or the GenBank DEFINITION.
    """

    id: str
    seq: np.ndarray
    description: str = ""

    @property
    def text(self) -> str:
        """The sequence as a str (a copy: for string methods, printing, regular expressions)."""
        return decode(self.seq)


class ShortRecordsWarning(UserWarning):
    """Records shorter than the minimum length were skipped."""


@dataclass
class ReadSummary:
    """What :func:`read_records` did with a file; filled in while it streams.

    Attributes
    ----------
    path : str
        The file read.
    n_read : int
        Records yielded.
    bp_read : int
        Total length of the yielded records, in bp.
    n_skipped : int
        Records skipped because they are shorter than ``min_length``.
    skipped_examples : list of (str, int)
        Up to five of the skipped records, as (id, length in bp).
    min_length : int
        The minimum length applied, in bp.
    bytes_read : int
        How far into the file on disk reading has got, in bytes (compressed bytes for a
        gzipped file): with the file's size, the fraction of it read so far.
    """

    path: str = ""
    n_read: int = 0
    bp_read: int = 0
    n_skipped: int = 0
    skipped_examples: list[tuple[str, int]] = field(default_factory=list)
    min_length: int = 1
    bytes_read: int = 0

    def skipped_message(self) -> str:
        """One line describing the skipped records ("" when none were skipped)."""
        if not self.n_skipped:
            return ""
        examples = ", ".join(f"{rid} ({length} bp)" for rid, length in self.skipped_examples)
        more = ", ..." if self.n_skipped > len(self.skipped_examples) else ""
        return (
            f"{self.path}: skipped {self.n_skipped} record(s) shorter than the minimum length of "
            f"{self.min_length} bp: {examples}{more}"
        )


def detect_format(path: str | os.PathLike) -> str:
    """The format of a sequence file: "fasta", "fastq" or "genbank".

    The extension (``.fa``, ``.fastq``, ``.gbk``, ... with an optional ``.gz``) is
    checked against the first characters of the (decompressed) content; without a
    known extension the content alone decides.

    Raises
    ------
    UserInputError
        The format cannot be told, or the extension and the content disagree.
    FileNotFoundError
        The file does not exist.
    """
    path = Path(path)
    by_name = _format_from_name(path)
    head = _first_text(path)
    by_content = next((fmt for fmt, magic in _MAGIC.items() if head.startswith(magic)), None)
    if by_content is None:
        if not head:
            raise UserInputError(f"{path}: the file is empty; there are no sequence records to read")
        raise UserInputError(
            f"{path}: unknown sequence format: FASTA starts with '>', FASTQ with '@' and GenBank with 'LOCUS', "
            f"but this file starts with {head[:20]!r}"
        )
    if by_name is not None and by_name != by_content:
        raise UserInputError(
            f"{path}: the extension says {by_name.upper()} but the content starts like {by_content.upper()} "
            f"({head[:20]!r})"
        )
    return by_content


def read_records(
    path: str | os.PathLike,
    *,
    min_length: int = 1,
    format: str | None = None,
    summary: ReadSummary | None = None,
    warn: bool = True,
) -> Iterator[Record]:
    """Stream the records of a FASTA, FASTQ or GenBank file (plain or gzipped).

    A generator, not a list: one record is in memory at a time, and it reads the file
    once. Wrap it in ``list(...)`` to index or reuse the records (``recs[0]``). Each
    ``seq`` is a uint8 array; ``record.text`` is the str.

    Parameters
    ----------
    path : str or PathLike
        The file. Gzip is recognised by its magic bytes, not by the name.
    min_length : int
        Records shorter than this (in bp) are skipped, counted in ``summary`` and
        reported with a :class:`ShortRecordsWarning` when the file is exhausted.
    format : {"fasta", "fastq", "genbank"}, optional
        Override the detection of :func:`detect_format`.
    summary : ReadSummary, optional
        Filled in as records stream (reads, bp, skipped records).
    warn : bool
        Emit a :class:`ShortRecordsWarning` when records were skipped. Turn it off only
        when you report ``summary`` yourself.

    Yields
    ------
    Record
        ``(id, seq, description)`` with ``seq`` as uint8 ASCII text (``record.text``:
        the str).

    Raises
    ------
    UserInputError
        Unknown format, malformed file, a record without an id (naming its number), an
        empty record, a duplicate id (naming the id and the file) or an invalid character
        (naming record, position, character).
    """
    path = Path(path)
    if not isinstance(min_length, int) or isinstance(min_length, bool) or min_length < 1:
        raise ValueError(
            f"The 'min_length' parameter of read_records must be an integer >= 1. Got {min_length!r} instead."
        )
    if format is None:
        format = detect_format(path)
    elif format not in _MAGIC:
        raise ValueError(
            f"The 'format' parameter of read_records must be one of {sorted(_MAGIC)}. Got {format!r} instead."
        )
    summary = summary if summary is not None else ReadSummary()
    summary.path, summary.min_length = str(path), min_length
    with _open_text(path) as handle:
        try:
            yield from _records(handle, format, path, summary, min_length)
        except UserInputError as error:
            raise _with_gzip_hint(error, handle, path) from None
    if summary.n_skipped and warn:
        warnings.warn(summary.skipped_message(), ShortRecordsWarning, stacklevel=2)


def _records(handle: io.TextIOBase, format: str, path: Path, summary: ReadSummary, min_length: int) -> Iterator[Record]:
    """The checked records of an open file, as :func:`read_records` yields them."""
    seen: set[str] = set()
    for number, (rid, description, raw) in enumerate(_parse(handle, format, path), start=1):
        summary.bytes_read = _bytes_consumed(handle)
        if not rid:  # a bare '>': the outputs would get a nameless row
            raise UserInputError(f"{path}: record {number} has no id; every record needs one")
        if rid in seen:
            raise UserInputError(f"{path}: duplicate record id {rid!r}; record ids must be unique within a file")
        seen.add(rid)
        text = np.frombuffer(raw, dtype=np.uint8)
        if text.size == 0:
            raise UserInputError(f"{path}: record {rid!r} is empty (no sequence)")
        if text.size < min_length:
            summary.n_skipped += 1
            if len(summary.skipped_examples) < 5:
                summary.skipped_examples.append((rid, int(text.size)))
            continue
        try:
            seq = encode(text, record_id=rid)
        except UserInputError as error:
            raise UserInputError(f"{path}: {error}") from None
        summary.n_read += 1
        summary.bp_read += int(seq.size)
        yield Record(rid, seq, description)


def _with_gzip_hint(error: UserInputError, handle: io.TextIOWrapper, path: Path) -> UserInputError:
    """The error, with a hint when the file is gzipped: gzip checks its CRC only at the end of
    the stream, so a byte damaged mid-stream first shows as a bad record (a duplicate id, say)."""
    message = str(error)
    if not isinstance(handle.buffer, gzip.GzipFile) or "damaged gzip file" in message:
        return error
    return UserInputError(f"{message.rstrip('.')}; the gzip file may be damaged: check it with `gzip -t {path}`")


def _parse(handle: io.TextIOBase, format: str, path: Path) -> Iterator[tuple[str, str, bytes]]:
    """(id, description, sequence) of each record, with the parser's errors as one-line user errors."""

    def parsed() -> Iterator:
        _skip_blank_lines(handle)
        yield from {"fasta": _fasta, "fastq": _fastq, "genbank": _genbank}[format](handle, path)

    records = parsed()
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except (zlib.error, gzip.BadGzipFile, EOFError) as error:  # a bad CRC, or a file cut short
            raise UserInputError(f"{path}: damaged gzip file ({error or type(error).__name__})") from None
        except _READ_ERRORS as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UserInputError(f"{path}: malformed {format.upper()} file: {first_line}") from None
        yield record


def _bytes_consumed(handle: io.TextIOWrapper) -> int:
    """The position in the file on disk (read ahead of the parser by at most one buffer)."""
    return getattr(handle.buffer, "fileobj", handle.buffer).tell()  # a GzipFile reads from its fileobj


def _skip_blank_lines(handle: io.TextIOBase) -> None:
    """Move past blank lines at the start: harmless, but Biopython's FASTA parser refuses them."""
    start = handle.tell()
    line = handle.readline()
    while line and not line.strip():
        start = handle.tell()
        line = handle.readline()
    handle.seek(start)


# FASTA and FASTQ go through Biopython's string parsers: SeqIO's records (and FASTQ's
# quality lists, never used) cost 25x the time for many short reads.


def _fasta(handle: io.TextIOBase, path: Path) -> Iterator[tuple[str, str, bytes]]:
    """SimpleFastaParser's loop, but a record's lines are freed before it is yielded (a
    200-Mbp record would hold 320 MB of them while it is embedded)."""
    title, lines = None, []
    for line in handle:
        if line[0] == ">":
            if title is not None:
                yield *_id_and_description(title), _sequence_of(lines)
            title = line[1:].rstrip()
        elif title is None:  # SeqIO refuses text before the first record
            raise ValueError("the first record does not start with '>'")
        else:
            lines.append(line)
    if title is not None:
        yield *_id_and_description(title), _sequence_of(lines)


def _sequence_of(lines: list[str]) -> bytes:
    """The sequence on a record's lines, without whitespace as in SeqIO; empties ``lines``."""
    text = "".join(lines)
    lines.clear()
    return text.encode().translate(None, b" \t\r\n")


def _fastq(handle: io.TextIOBase, path: Path) -> Iterator[tuple[str, str, bytes]]:
    for title, seq, quality in FastqGeneralIterator(handle):  # it refuses a quality of another length
        bad = _BAD_QUALITY.search(quality)  # as SeqIO refuses it
        if bad:
            raise ValueError(
                f"invalid character {bad.group()!r} in the quality string of {title!r}; qualities are '!' to '~'"
            )
        yield *_id_and_description(title), seq.encode()


def _genbank(handle: io.TextIOBase, path: Path) -> Iterator[tuple[str, str, bytes]]:
    for record in SeqIO.parse(handle, "genbank"):
        yield record.id, _description(record), _sequence_bytes(record, path)


def _id_and_description(title: str) -> tuple[str, str]:
    """The id (first word, as SeqIO takes it) and the rest of a header line."""
    words = title.split(None, 1)
    return (words[0], words[1].strip() if len(words) > 1 else "") if words else ("", "")


def _sequence_bytes(record, path: Path) -> bytes:
    try:
        return bytes(record.seq)
    except UndefinedSequenceError:
        raise UserInputError(f"{path}: record {record.id!r} has no sequence (only its length is defined)") from None


def _description(record) -> str:
    description = record.description or ""
    if description.startswith(record.id):
        description = description[len(record.id) :].strip()
    return description


def _format_from_name(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in (".gz", ".bgz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    for fmt, extensions in EXTENSIONS.items():
        if name.endswith(extensions):
            return fmt
    return None


def _open_text(path: Path) -> io.TextIOBase:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory, not a sequence file")
    if not path.is_file():  # the file is opened more than once (gzip check, format, records)
        raise UserInputError(f"{path}: not a regular file (a pipe or a device); save the sequences to a file first")
    gzipped = _is_gzipped(path)
    # utf-8-sig: a byte-order mark (Windows editors write one) is not part of the text
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8-sig", errors=DECODE_ERRORS)
    return open(path, encoding="utf-8-sig", errors=DECODE_ERRORS)


def _is_gzipped(path: Path) -> bool:
    with open(path, "rb") as raw:
        return raw.read(2) == _GZIP_MAGIC


def _first_text(path: Path) -> str:
    """The first non-blank characters of the decompressed file."""
    try:
        with _open_text(path) as handle:
            head = handle.read(4096)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (OSError, EOFError, zlib.error) as error:
        if _is_gzipped(path):  # the magic bytes are there: the rest is damaged
            raise UserInputError(f"{path}: damaged gzip file ({error or type(error).__name__})") from None
        raise UserInputError(f"{path}: cannot be read as plain or gzipped text ({error})") from None
    return head.lstrip()
