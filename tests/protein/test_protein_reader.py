"""Reading FASTA, Stockholm and Clustal families, with clear errors for bad files."""

import gzip

import pytest
from Bio import AlignIO

from symcl.data import data_path
from symcl.domains import protein
from symcl.errors import UserInputError


@pytest.fixture
def globins_aligned():
    return data_path("protein", "globins45.aligned.fa")


def test_unaligned_fasta_is_read_in_order(globins_aligned):
    family = protein.read_sequences(data_path("protein", "globins45.fa"))
    assert len(family) == 45 and not family.aligned
    assert family.ids[:2] == ("MYG_ESCGI", "MYG_HORSE")
    assert family[0].startswith("VLSDAEWQLV") and "-" not in family[0]
    assert list(family) == list(family.sequences)


def test_aligned_fasta_is_detected(globins_aligned):
    family = protein.read_sequences(globins_aligned)
    assert family.aligned
    assert {len(row) for row in family} == {156}
    assert family[0].startswith("--VLSDAEW")


def test_aligned_fasta_can_be_read_unaligned(globins_aligned):
    family = protein.read_sequences(globins_aligned, aligned=False)
    assert not family.aligned and family[0].startswith("VLSDAEW")


@pytest.mark.parametrize("fmt", ["stockholm", "clustal"])
def test_alignment_formats_are_detected_and_read(tmp_path, globins_aligned, fmt):
    alignment = AlignIO.read(globins_aligned, "fasta")
    path = tmp_path / f"globins.{fmt}"
    AlignIO.write(alignment, path, fmt)
    assert protein.detect_format(path) == fmt
    family = protein.read_sequences(path)
    reference = protein.read_sequences(globins_aligned)
    assert family.aligned
    assert family.ids == reference.ids
    assert family.sequences == reference.sequences


def test_gzipped_file_is_read(tmp_path):
    path = tmp_path / "cox2.fa.gz"
    path.write_bytes(gzip.compress(data_path("protein", "COX2_TM.fa").read_bytes()))
    assert len(protein.read_sequences(path)) == 11


def write(tmp_path, text, name="fam.fa"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.fa"):
        protein.read_sequences(tmp_path / "nope.fa")


def test_empty_file(tmp_path):
    with pytest.raises(UserInputError, match="fam.fa: the file is empty"):
        protein.read_sequences(write(tmp_path, "\n"))


def test_unknown_format(tmp_path):
    with pytest.raises(UserInputError, match="fam.fa: unknown format"):
        protein.read_sequences(write(tmp_path, "hello world\n"))


def test_empty_record_names_file_and_record(tmp_path):
    with pytest.raises(UserInputError, match=r"fam\.fa: record 'b'.*empty"):
        protein.read_sequences(write(tmp_path, ">a\nMKVL\n>b\n>c\nMKVI\n"))


def test_duplicate_id_in_fasta(tmp_path):
    with pytest.raises(UserInputError, match=r"fam\.fa: duplicate record id 'a'"):
        protein.read_sequences(write(tmp_path, ">a\nMKVL\n>b\nMKV\n>a\nMKVI\n"))


def test_duplicate_id_in_clustal(tmp_path):
    text = "CLUSTAL W (1.83) multiple sequence alignment\n\n\na      MK-VL\nb      MKWVL\na      MK-VL\n"
    with pytest.raises(UserInputError, match=r"fam\.aln: duplicate record id 'a'"):
        protein.read_sequences(write(tmp_path, text, "fam.aln"))


def test_malformed_stockholm(tmp_path):
    text = "# STOCKHOLM 1.0\na/1-4 MK-VL\nb/1-5 MKWVLLL\n//\n"
    with pytest.raises(UserInputError, match=r"fam\.sto: not a valid stockholm file"):
        protein.read_sequences(write(tmp_path, text, "fam.sto"))


def test_record_without_id_is_rejected(tmp_path):
    path = tmp_path / "noid.fa"
    path.write_text(">a\nMKVLAAGIVW\n>\nMKVLAAGIVW\n")
    with pytest.raises(UserInputError, match=r"noid\.fa: record 2 has no id"):
        protein.read_sequences(path)


def test_nucleotide_file_is_rejected(tmp_path):
    with pytest.raises(UserInputError, match=r"fam\.fa: record 'contig1'.*nucleotide"):
        protein.read_sequences(write(tmp_path, ">contig1\nACGTACGGTTACNNACGT\n"))


def test_invalid_letter_names_position(tmp_path):
    with pytest.raises(UserInputError, match=r"record 'b': invalid character '8' at position 2"):
        protein.read_sequences(write(tmp_path, ">a\nMKVL\n>b\nM8VL\n"))


def test_forced_alignment_with_unequal_rows(tmp_path):
    with pytest.raises(UserInputError, match=r"record 'b' has 3 columns but record 'a' has 4"):
        protein.read_sequences(write(tmp_path, ">a\nMK-L\n>b\nMKV\n"), aligned=True)


def test_bad_parameters():
    with pytest.raises(ValueError, match="'format' parameter of read_sequences"):
        protein.read_sequences("x.fa", format="genbank")


def test_blank_lines_and_a_byte_order_mark_before_the_first_record(tmp_path):
    path = tmp_path / "bom.fa"
    path.write_bytes(b"\xef\xbb\xbf\n\n>a\nMKVLA\n>b\nMKVLS\n")
    assert protein.read_sequences(path).ids == ("a", "b")


@pytest.mark.parametrize("pack", [bytes, gzip.compress])
def test_a_windows_1252_header_is_read_as_the_dna_reader_reads_it(tmp_path, pack):
    # b"\xe9" is not UTF-8: it is read as latin-1 'é', not refused, and the BOM is skipped
    path = tmp_path / "cafe.fa"
    path.write_bytes(pack(b"\xef\xbb\xbf>caf\xe9 au lait\nMKVLA\n>th\xc3\xa9\nMKVLS\n"))
    assert protein.read_sequences(path).ids == ("café", "thé")


@pytest.mark.parametrize("newline", ["\r", "\r\n"])
@pytest.mark.parametrize("fmt", ["fasta", "stockholm", "clustal"])
def test_old_mac_and_windows_line_endings_are_read(tmp_path, globins_aligned, fmt, newline):
    alignment = AlignIO.read(globins_aligned, "fasta")
    unix = tmp_path / f"unix.{fmt}"
    AlignIO.write(alignment, unix, fmt)
    other = tmp_path / f"other.{fmt}"
    other.write_bytes(unix.read_bytes().replace(b"\n", newline.encode()))
    family = protein.read_sequences(other)
    assert (family.ids, family.sequences) == (protein.read_sequences(unix).ids, protein.read_sequences(unix).sequences)


def test_an_unaligned_fasta_file_with_old_mac_line_endings_is_read(tmp_path):
    path = tmp_path / "mac.fa"
    path.write_bytes(b">MYG_ESCGI\rMKVLA\rGGH\r>b\rMKVLS\r")
    family = protein.read_sequences(path)
    assert family.ids == ("MYG_ESCGI", "b") and family.sequences == ("MKVLAGGH", "MKVLS")


def test_gapped_rows_of_different_lengths_are_realigned_with_a_one_line_warning(tmp_path, globins_aligned):
    import warnings

    from symcl.domains.protein.reader import RaggedAlignmentWarning

    rows = list(AlignIO.read(globins_aligned, "fasta"))[:12]
    path = write(tmp_path, "".join(f">{row.id}\n{str(row.seq).rstrip('-')}\n" for row in rows), name="ts.fa")
    with pytest.warns(RaggedAlignmentWarning) as caught:
        family = protein.read_sequences(path)
    assert not family.aligned
    assert [str(w.message) for w in caught] == [
        f"{path}: has gap characters but its rows differ in length (150 to 156): read as unaligned and realigned "
        "(--aligned, or aligned=True in Python, refuses it)"
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither an alignment nor plain sequences warn
        protein.read_sequences(globins_aligned)
        protein.read_sequences(data_path("protein", "globins45.fa"))
        protein.read_sequences(path, aligned=False)  # asked for: nothing to warn about
