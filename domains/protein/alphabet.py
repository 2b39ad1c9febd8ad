"""The protein alphabet: which letters are accepted, how the rare ones are mapped, how rows are encoded.

Policy (applied to every sequence, whether read from a file or passed in Python):

- Letters are upper-cased (Stockholm and A2M write insert states in lower case).
- The 20 standard amino acids ``ACDEFGHIKLMNPQRSTVWY`` are kept.
- The ambiguity codes ``B`` (D or N), ``Z`` (E or Q) and ``X`` (unknown) are kept:
  BLOSUM62 has rows for them, so the aligner scores them.
- ``U`` (selenocysteine) becomes ``C`` and ``O`` (pyrrolysine) becomes ``K``, the
  standard residues they derive from; BLOSUM62 has neither. ``J`` (I or L) becomes ``X``.
- The distance statistics count only columns where both residues are standard, so an
  ambiguous residue is neither an identity nor a mismatch (as in MUSCLE's Scoredist).
- Unaligned input: gaps (``-``, ``.``) and stops (``*``) are removed wherever they are.
- Aligned input: ``-``, ``.`` and ``*`` are all gap columns and are written as ``-``.
- Any other character is an error naming the record, the position and the character.
- A sequence of at least :data:`NUCLEOTIDE_CHECK_MIN_LENGTH` letters made only of
  ``A C G T U N``, or of at least 30 letters 90 % of which are (a read with a few
  ambiguity codes such as R or Y), is taken for DNA/RNA and rejected.
"""

from __future__ import annotations

import numpy as np

from symcl.errors import UserInputError

#: The 20 standard amino acids.
STANDARD = "ACDEFGHIKLMNPQRSTVWY"
#: Ambiguity codes that BLOSUM62 scores and the distance statistics skip.
AMBIGUOUS = "BZX"
#: Rare letters replaced before alignment (BLOSUM62 has no row for them).
MAPPED = {"U": "C", "O": "K", "J": "X"}
#: Characters that mark a gap in aligned input (``*`` counts as a gap there).
GAP_CHARACTERS = "-.*"
#: The letters of the BLOSUM62 matrix of Biopython, in its order; codes below 20 are standard.
BLOSUM62_ALPHABET = "ARNDCQEGHILKMFPSTWYVBZX*"
#: Sequences of at least this many letters, all from ``ACGTUN``, are rejected as nucleotides.
#: A random protein of this length has a chance of about 1e-6 of using only those letters.
NUCLEOTIDE_CHECK_MIN_LENGTH = 10
#: From this length on, a sequence whose letters are this much ``ACGTUN`` is rejected too;
#: proteins use those letters for about a quarter of their residues.
NUCLEOTIDE_FRACTION_MIN_LENGTH, NUCLEOTIDE_FRACTION = 30, 0.9
#: Code of a gap in :func:`encode`.
GAP_CODE = -1

_NUCLEOTIDE_LETTERS = frozenset("ACGTUN")
_ALLOWED = frozenset(STANDARD + AMBIGUOUS + "".join(MAPPED))
_TRANSLATION = str.maketrans(MAPPED)
_CODES = np.full(256, -2, dtype=np.int8)
for _code, _letter in enumerate(BLOSUM62_ALPHABET[:-1]):
    _CODES[ord(_letter)] = _code
_CODES[ord("-")] = GAP_CODE


def clean_sequence(text: str, *, aligned: bool = False, record: str = "sequence", source: str = "") -> str:
    """Check a protein sequence and bring it to the alphabet of the aligner.

    Parameters
    ----------
    text : str
        The sequence as written (any case; gaps, stops and rare letters allowed).
    aligned : bool
        True for a row of a multiple alignment: gap characters stay, as ``-``, so the
        length is unchanged. False: gaps and stops are removed.
    record : str
        The record id, for error messages.
    source : str
        The file name, for error messages ("" when the sequence was passed in Python).

    Returns
    -------
    str
        Upper case, over ``ACDEFGHIKLMNPQRSTVWY`` + ``BZX`` (+ ``-`` when aligned).

    Raises
    ------
    UserInputError
        An invalid character (named with its 1-based position), a sequence with no
        residues, or a sequence that looks like DNA/RNA.
    """
    where = f"{source}: record {record!r}" if source else f"record {record!r}"
    upper = text.upper()
    residues = []
    for position, letter in enumerate(upper, start=1):
        if letter in GAP_CHARACTERS:
            if aligned:
                residues.append("-")
        elif letter in _ALLOWED:
            residues.append(letter)
        else:
            raise UserInputError(
                f"{where}: invalid character {text[position - 1]!r} at position {position}; a protein sequence "
                f"holds the letters {STANDARD}, the codes B, Z, X, J, U, O, gaps '-' '.' and stops '*'"
            )
    letters = [letter for letter in residues if letter != "-"]
    if not letters:
        raise UserInputError(f"{where}: the sequence is empty (no residues)")
    nucleotides = sum(letter in _NUCLEOTIDE_LETTERS for letter in letters)
    if (len(letters) >= NUCLEOTIDE_CHECK_MIN_LENGTH and nucleotides == len(letters)) or (
        len(letters) >= NUCLEOTIDE_FRACTION_MIN_LENGTH and nucleotides >= NUCLEOTIDE_FRACTION * len(letters)
    ):
        raise UserInputError(
            f"{where}: looks like a nucleotide sequence ({nucleotides} of its {len(letters)} letters are A, C, G, "
            "T, U or N); protein sequences are expected"
        )
    return "".join(residues).translate(_TRANSLATION)


def encode(sequence: str) -> np.ndarray:
    """Codes of a cleaned sequence: the BLOSUM62 alphabet index, :data:`GAP_CODE` for gaps.

    Parameters
    ----------
    sequence : str
        Output of :func:`clean_sequence` (aligned or not).

    Returns
    -------
    ndarray
        ``int8``, shape (L,). Codes 0-19 are the standard residues, 20-22 are B, Z, X.
    """
    codes = _CODES[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
    if (codes == -2).any():
        bad = sequence[int(np.argmax(codes == -2))]
        raise ValueError(f"encode expects a cleaned protein sequence (see clean_sequence). Got the letter {bad!r}.")
    return codes
