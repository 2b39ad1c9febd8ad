"""Streaming input: formats, gzip, detection and the errors for bad files."""

import gzip
import inspect
import warnings

import numpy as np
import pytest
from Bio import SeqIO
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord

from symcl.domains import dna
from symcl.domains.dna.reader import ReadSummary, ShortRecordsWarning
from symcl.errors import UserInputError


def _write(path, text):
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def _records(n=3, length=50):
    rng = np.random.default_rng(1)
    return [
        SeqRecord(Seq("".join(rng.choice(list("ACGT"), length))), id=f"r{i}", name=f"r{i}", description=f"read {i}")
        for i in range(n)
    ]


@pytest.mark.parametrize(
    "name, format", [("x.fa", "fasta"), ("x.fastq.gz", "fastq"), ("x.gbk", "genbank"), ("x.gb.gz", "genbank")]
)
def test_every_format_reads_plain_and_gzipped(tmp_path, name, format):
    records = _records()
    for record in records:
        record.letter_annotations = {"phred_quality": [30] * len(record)} if format == "fastq" else {}
        record.annotations["molecule_type"] = "DNA"
    path = tmp_path / name
    handle = gzip.open(path, "wt") if name.endswith(".gz") else open(path, "w")
    with handle:
        SeqIO.write(records, handle, format)
    got = list(dna.read_records(path))
    assert [r.id for r in got] == ["r0", "r1", "r2"]
    assert [dna.decode(r.seq) for r in got] == [str(r.seq) for r in records]
    assert dna.detect_format(path) == format


def test_shipped_files_read(shipped):
    (record,) = dna.read_records(shipped["phiX174.fa.gz"])
    assert record.id == "NC_001422.1"
    assert record.seq.size == 5386 and record.seq.dtype == np.uint8
    assert "phiX174" in record.description


def test_content_decides_without_a_known_extension(tmp_path):
    fasta = _write(tmp_path / "reads.txt.gz", ">a\nACGT\n")
    fastq = _write(tmp_path / "reads.dat", "@a\nACGT\n+\nIIII\n")
    assert dna.detect_format(fasta) == "fasta"
    assert dna.detect_format(fastq) == "fastq"
    # gzip is recognised by its magic bytes, whatever the name says
    plain_named_gz = _write(tmp_path / "plain.fa", ">a\nAC\n").rename(tmp_path / "plain.fa.gz")
    assert [r.id for r in dna.read_records(plain_named_gz)] == ["a"]


def test_unknown_format_empty_file_and_mismatch_are_clear(tmp_path):
    with pytest.raises(UserInputError, match=r"notes\.txt: unknown sequence format.*'hello"):
        dna.detect_format(_write(tmp_path / "notes.txt", "hello world\n"))
    with pytest.raises(UserInputError, match=r"empty\.fa: the file is empty"):
        list(dna.read_records(_write(tmp_path / "empty.fa", "")))
    with pytest.raises(UserInputError, match=r"x\.fa: the extension says FASTA but the content starts like FASTQ"):
        dna.detect_format(_write(tmp_path / "x.fa", "@a\nACGT\n+\nIIII\n"))
    with pytest.raises(FileNotFoundError, match="missing.fa"):
        list(dna.read_records(tmp_path / "missing.fa"))


def test_duplicate_ids_name_the_id_and_the_file(tmp_path):
    path = _write(tmp_path / "dup.fa", ">a\nACGT\n>b\nAC\n>a\nGG\n")
    with pytest.raises(UserInputError, match=r"dup\.fa: duplicate record id 'a'"):
        list(dna.read_records(path))


@pytest.mark.parametrize("header", [">", ">   "])
def test_a_record_without_an_id_is_refused_by_its_number(tmp_path, header):
    path = _write(tmp_path / "noid.fa", f">a\nACGT\n{header}\nGGCC\n")
    with pytest.raises(UserInputError, match=r"noid\.fa: record 2 has no id; every record needs one$"):
        list(dna.read_records(path))  # else bins.tsv and the .npz get a nameless row


def test_empty_record_is_an_error(tmp_path):
    path = _write(tmp_path / "e.fa", ">a\nACGT\n>hollow\n>c\nAC\n")
    with pytest.raises(UserInputError, match=r"e\.fa: record 'hollow' is empty"):
        list(dna.read_records(path))


def test_invalid_letter_names_file_record_and_position(tmp_path):
    path = _write(tmp_path / "bad.fa", ">ok\nACGT\n>ctg2\nACGT\nAC*T\n")
    with pytest.raises(UserInputError, match=r"bad\.fa: Record 'ctg2' has an invalid character '\*' at position 7\b"):
        list(dna.read_records(path))


def test_malformed_fastq_is_one_line(tmp_path):
    path = _write(tmp_path / "bad.fq", "@r1\nACGT\n+\nIII\n")
    with pytest.raises(UserInputError, match=r"bad\.fq: malformed FASTQ file") as info:
        list(dna.read_records(path))
    assert "\n" not in str(info.value)


def test_fastq_without_an_id_or_with_a_bad_quality_is_one_line(tmp_path):
    path = _write(tmp_path / "noid.fq", "@r1 x\nACGT\n+\nIIII\n@\nACGT\n+\nIIII\n")
    with pytest.raises(UserInputError, match=r"noid\.fq: record 2 has no id"):  # was an IndexError
        list(dna.read_records(path))
    path = _write(tmp_path / "q.fq", "@r1\nACGT\n+\nII I\n")  # qualities are parsed as strings now, still checked
    with pytest.raises(UserInputError, match=r"q\.fq: malformed FASTQ file: invalid character ' ' in the quality"):
        list(dna.read_records(path))


def test_fasta_headers_and_whitespace_read_as_seqio_reads_them(tmp_path):
    path = _write(tmp_path / "h.fa", ">a  first  read \nAC\tG T\r\n\nTT\n>b\nGG\n")
    got = [(r.id, r.description, dna.decode(r.seq)) for r in dna.read_records(path)]
    assert got == [("a", "first  read", "ACGTTT"), ("b", "", "GG")]
    path = _write(tmp_path / "text.txt", "; comment\n>a\nACGT\n")
    with pytest.raises(UserInputError, match=r"text\.txt: malformed FASTA file: the first record does not start"):
        list(dna.read_records(path, format="fasta"))


def test_short_records_are_skipped_counted_and_reported(tmp_path):
    path = _write(tmp_path / "mix.fa", ">long\nACGTACGTAC\n>short\nACG\n>tiny\nA\n>long2\nACGTACGTACGT\n")
    summary = ReadSummary()
    with pytest.warns(ShortRecordsWarning, match=r"mix\.fa: skipped 2 record.*10 bp: short \(3 bp\), tiny \(1 bp\)"):
        got = [r.id for r in dna.read_records(path, min_length=10, summary=summary)]
    assert got == ["long", "long2"]
    assert (summary.n_read, summary.bp_read, summary.n_skipped) == (2, 22, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(dna.read_records(path, min_length=10, warn=False))  # reported through the summary only
        assert len(list(dna.read_records(path, min_length=1))) == 4


def test_reading_streams_one_record_at_a_time(tmp_path):
    # The last record is invalid: a streaming reader yields the first ones before it gets there.
    path = _write(tmp_path / "stream.fa.gz", ">a\nACGT\n>b\nGGCC\n" + ">z\nAC!T\n")
    stream = dna.read_records(path)
    assert inspect.isgenerator(stream)
    assert next(stream).id == "a"
    assert next(stream).id == "b"
    with pytest.raises(UserInputError, match="'z'"):
        next(stream)


def test_bad_parameters(tmp_path):
    path = _write(tmp_path / "a.fa", ">a\nACGT\n")
    with pytest.raises(ValueError, match="'min_length' parameter of read_records must be an integer >= 1. Got 0"):
        list(dna.read_records(path, min_length=0))
    with pytest.raises(ValueError, match="'format' parameter"):
        list(dna.read_records(path, format="embl"))


@pytest.mark.parametrize("name", ["blank.fa", "blank.fa.gz"])
def test_blank_lines_before_the_first_record_are_skipped(tmp_path, name):
    path = _write(tmp_path / name, "\n  \n>a\nACGT\n>b\nGGCC\n")
    assert [r.id for r in dna.read_records(path)] == ["a", "b"]


@pytest.mark.parametrize("where", ["start", "middle"])
def test_a_damaged_gzip_file_is_one_line(tmp_path, where):
    rng = np.random.default_rng(2)
    text = "".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), 2000))}\n" for i in range(20))
    data = bytearray(gzip.compress(text.encode()))
    data[40 if where == "start" else len(data) // 2] ^= 0xFF  # zlib.error, which is not an OSError
    path = tmp_path / "damaged.fa.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(UserInputError, match=r"damaged\.fa\.gz: ") as info:
        list(dna.read_records(path))
    assert "\n" not in str(info.value)


def test_a_byte_damaged_mid_stream_is_never_blamed_on_the_records_alone(tmp_path):
    # gzip checks the CRC at the end of the stream: a damaged byte first shows as a bad record
    rng = np.random.default_rng(2)
    text = "".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), 2000))}\n" for i in range(12))
    data = gzip.compress(text.encode(), mtime=0)
    path = tmp_path / "flipped.fa.gz"
    record_level = 0
    for where in range(len(data) // 4, len(data) - 20, 11):
        damaged = bytearray(data)
        damaged[where] ^= 0xFF
        path.write_bytes(bytes(damaged))
        with pytest.raises(UserInputError) as info:
            list(dna.read_records(path))
        message = str(info.value)
        if "damaged gzip file" not in message:
            assert message.endswith(f"; the gzip file may be damaged: check it with `gzip -t {path}`"), message
            record_level += 1
    assert record_level > 0
    path = _write(tmp_path / "dup.fa.gz", ">a\nACGT\n>a\nGG\n")  # an intact file gets the hint too: it cannot tell
    with pytest.raises(UserInputError, match=r"duplicate record id 'a'.*; the gzip file may be damaged"):
        list(dna.read_records(path))
    path = _write(tmp_path / "letter.fa.gz", ">a\nAJ\n")
    with pytest.raises(UserInputError, match=r"in either case; the gzip file may be damaged"):  # not "case.;"
        list(dna.read_records(path))


def test_utf8_ids_are_read_as_written_and_a_byte_order_mark_is_skipped(tmp_path):
    path = tmp_path / "utf8.fa"
    path.write_bytes("\ufeff>contig_é1 café\r\nACGT\n>contig_µ2\nGGCC\n".encode() + b">old_\xe93\nTTAA\n")
    records = list(dna.read_records(path))
    assert [r.id for r in records] == ["contig_é1", "contig_µ2", "old_é3"]  # a stray latin-1 byte too
    assert records[0].description == "café"


def test_a_pipe_is_refused_naming_the_path(tmp_path):
    import os

    fifo = tmp_path / "pipe.fa"
    os.mkfifo(fifo)
    with pytest.raises(UserInputError, match=r"pipe\.fa: not a regular file"):
        list(dna.read_records(fifo))


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzipped"])
def test_summary_follows_the_bytes_read_to_the_end_of_the_file(tmp_path, compress):
    rng = np.random.default_rng(0)
    text = "".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), 20_000))}\n" for i in range(30))
    path = tmp_path / ("many.fa.gz" if compress else "many.fa")
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    summary = ReadSummary()
    positions = [summary.bytes_read for _ in dna.read_records(path, summary=summary)]
    assert positions == sorted(positions) and positions[0] < positions[-1] == path.stat().st_size
    assert positions[0] < path.stat().st_size / 2  # the file is read as the records stream, not first


def test_a_record_gives_its_sequence_as_text(tmp_path):
    path = tmp_path / "soft.fa"
    path.write_text(">a masked\nACGTnnRYacgt\n")
    (record,) = dna.read_records(path)
    assert record.seq.dtype == np.uint8  # streamed as bytes: 1 per base
    assert record.text == "ACGTnnRYacgt" and record.text.lower().count("acgt") == 2
