"""The alphabet: IUPAC reverse complement, encodings and validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symcl.domains import dna
from symcl.domains.dna.alphabet import IUPAC_COMPLEMENT, reverse_complement_codes
from symcl.errors import UserInputError

DNA_LETTERS = "ACGTRYKMBVDHSWNacgtrykmbvdhswn"


def test_every_iupac_letter_complements_as_the_table_says():
    pairs = {"A": "T", "C": "G", "R": "Y", "K": "M", "B": "V", "D": "H", "S": "S", "W": "W", "N": "N"}
    for a, b in pairs.items():
        assert dna.reverse_complement(a) == b
        assert dna.reverse_complement(b) == a
        assert dna.reverse_complement(a.lower()) == b.lower()


def test_reverse_complement_reverses_and_keeps_case():
    assert dna.reverse_complement("ACGTNacgtn") == "nacgtNACGT"
    assert dna.reverse_complement("AAACCCgggTTT") == "AAAcccGGGTTT"
    assert dna.reverse_complement("RYKMBVDHSW") == "WSDHBVKMRY"
    assert dna.reverse_complement("") == ""


def test_u_complements_to_a_and_output_is_dna():
    assert dna.reverse_complement("UUCG") == "CGAA"
    assert dna.reverse_complement("ug") == "ca"
    assert dna.reverse_complement(dna.reverse_complement("ACGU")) == "ACGT"


def test_type_is_preserved():
    assert dna.reverse_complement(b"AACG") == b"CGTT"
    assert dna.reverse_complement(bytearray(b"AACG")) == bytearray(b"CGTT")
    assert isinstance(dna.reverse_complement(bytearray(b"AACG")), bytearray)
    text = np.frombuffer(b"AACG", dtype=np.uint8)
    out = dna.reverse_complement(text)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    assert out.tobytes() == b"CGTT"


@settings(deadline=None)
@given(st.text(alphabet=DNA_LETTERS, max_size=300))
def test_reverse_complement_is_an_involution(seq):
    assert dna.reverse_complement(dna.reverse_complement(seq)) == seq
    array = dna.encode(seq)
    assert np.array_equal(dna.reverse_complement(dna.reverse_complement(array)), array)


@settings(deadline=None)
@given(st.text(alphabet=DNA_LETTERS, min_size=1, max_size=100))
def test_reverse_complement_of_codes_matches_the_text(seq):
    codes = dna.to_codes(dna.reverse_complement(seq))
    assert np.array_equal(reverse_complement_codes(dna.to_codes(seq)), codes)


def test_invalid_character_names_record_position_and_character():
    with pytest.raises(UserInputError, match=r"'contig_7'.*'X' at position 5\b"):
        dna.reverse_complement("ACGTXACGT", record_id="contig_7")
    with pytest.raises(UserInputError, match=r"'-' at position 3\b"):
        dna.encode("AC-GT", record_id="r")
    with pytest.raises(UserInputError, match=r"'é' at position 2\b"):
        dna.to_codes("Aé")
    with pytest.raises(UserInputError, match=r"byte 0x00 at position 1\b"):
        dna.encode(b"\x00A")


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="uint8"):
        dna.reverse_complement(np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="list"):
        dna.reverse_complement(["A", "C"])


def test_codes_fold_case_and_ambiguity():
    assert dna.to_codes("ACGTUacgtuNRyk").tolist() == [0, 1, 2, 3, 3, 0, 1, 2, 3, 3, 4, 4, 4, 4]
    assert dna.decode(dna.encode("ACGTn")) == "ACGTn"


def test_table_is_closed_under_complement():
    for letter, partner in IUPAC_COMPLEMENT.items():
        if letter != "U":
            assert IUPAC_COMPLEMENT[partner] == letter
