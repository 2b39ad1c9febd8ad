"""The protein alphabet policy: mapping, stripping, and errors naming record and position."""

import numpy as np
import pytest

from symcl.domains.protein import alphabet
from symcl.domains.protein.alphabet import clean_sequence, encode
from symcl.errors import UserInputError


def test_standard_letters_are_kept_and_upper_cased():
    assert clean_sequence("acdefghiklmnpqrstvwy") == alphabet.STANDARD


def test_rare_letters_are_mapped_and_ambiguity_codes_kept():
    # U (selenocysteine) -> C, O (pyrrolysine) -> K, J (I or L) -> X; B, Z, X stay for BLOSUM62.
    assert clean_sequence("MUOJBZX") == "MCKXBZX"


def test_gaps_and_stops_are_stripped_from_unaligned_input():
    assert clean_sequence("MK-V.L*W*") == "MKVLW"


def test_aligned_rows_keep_their_length_with_dash_gaps():
    assert clean_sequence("MK-V.L*", aligned=True) == "MK-V-L-"


def test_invalid_character_names_record_position_and_file():
    with pytest.raises(UserInputError, match=r"fam\.fa: record 'seq7': invalid character '1' at position 3"):
        clean_sequence("MK1V", record="seq7", source="fam.fa")


def test_empty_sequence_is_an_error():
    with pytest.raises(UserInputError, match="record 'e'.*empty"):
        clean_sequence("--**", record="e")


def test_nucleotide_sequence_is_rejected():
    with pytest.raises(UserInputError, match="record 'dna'.*nucleotide"):
        clean_sequence("ACGTTGCANNACGU", record="dna")
    # Short peptides of those letters are legal (below the length of the check).
    assert clean_sequence("GATTACA") == "GATTACA"
    # A read with an ambiguity code is still DNA; a protein with a quarter of those letters is not.
    with pytest.raises(UserInputError, match="record 'read'.*nucleotide sequence \\(39 of its 40 letters"):
        clean_sequence("ACGT" * 5 + "R" + "ACGT" * 4 + "ACG", record="read")
    protein = "MKVLAAGIVWTTNACDEFGHIKLMNPQRSTVWY"
    assert clean_sequence(protein) == protein


def test_encode_gives_blosum62_codes_and_gap_code():
    codes = encode("AR-X")
    assert codes.dtype == np.int8
    assert codes.tolist() == [0, 1, alphabet.GAP_CODE, alphabet.BLOSUM62_ALPHABET.index("X")]
    assert (encode(alphabet.STANDARD) < 20).all()


def test_encode_refuses_uncleaned_text():
    with pytest.raises(ValueError, match="clean_sequence"):
        encode("MKU")
