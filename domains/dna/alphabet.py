"""The nucleotide alphabet: uint8 encodings, validation and the reverse complement.

Two encodings are used, both ``uint8`` arrays:

- **Text** (``encode`` / ``decode``): the ASCII bytes of the sequence, with case and
  IUPAC ambiguity codes kept as they are. This is what :func:`reverse_complement`
  works on, so soft-masked (lowercase) regions survive.
- **Codes** (``to_codes``): what the models see. ``A=0, C=1, G=2, T=3`` (``U`` counts as
  ``T``), every ambiguity code (``N``, ``R``, ``Y``, ...) is :data:`CODE_N` = 4, and
  :data:`CODE_PAD` = 5 pads a batch to a fixed length. On codes the complement is
  ``3 - c`` for bases, and N stays N.

Both are vectorised with 256-entry lookup tables.

``U`` (RNA) is accepted and complements to ``A``; the output of
:func:`reverse_complement` is DNA, so ``reverse_complement`` is an involution on the DNA
alphabet (everything but ``U``/``u``), and on RNA input ``rc(rc(x))`` gives ``x`` with
``U`` written as ``T``.

References
----------
NC-IUB (1985). Nomenclature for incompletely specified bases in nucleic acid sequences.
Nucleic Acids Research 13(9), 3021-3030.
"""

from __future__ import annotations

import numpy as np
import torch
from Bio.Seq import Seq
from torch import Tensor

from symcl.errors import UserInputError

#: IUPAC nucleotide codes and their complements (uppercase; lowercase mirrors them).
IUPAC_COMPLEMENT: dict[str, str] = {
    "A": "T",
    "C": "G",
    "G": "C",
    "T": "A",
    "U": "A",
    "R": "Y",
    "Y": "R",
    "K": "M",
    "M": "K",
    "B": "V",
    "V": "B",
    "D": "H",
    "H": "D",
    "S": "S",
    "W": "W",
    "N": "N",
}
#: The letters accepted in a sequence, either case.
VALID_LETTERS = "".join(IUPAC_COMPLEMENT)

CODE_A, CODE_C, CODE_G, CODE_T = 0, 1, 2, 3
#: Code of any ambiguous base (N and the other IUPAC ambiguity letters).
CODE_N = 4
#: Code of padding after the end of a sequence in a batch.
CODE_PAD = 5
#: Complement on codes: bases 3 - c, N stays N, padding stays padding.
CODE_COMPLEMENT = np.array([3, 2, 1, 0, CODE_N, CODE_PAD], dtype=np.uint8)

_INVALID = 0  # no valid letter has byte value 0


def _tables() -> tuple[np.ndarray, np.ndarray]:
    complement = np.full(256, _INVALID, dtype=np.uint8)
    codes = np.full(256, 255, dtype=np.uint8)
    base_code = {"A": CODE_A, "C": CODE_C, "G": CODE_G, "T": CODE_T, "U": CODE_T}
    for letter, partner in IUPAC_COMPLEMENT.items():
        for a, b in ((letter, partner), (letter.lower(), partner.lower())):
            complement[ord(a)] = ord(b)
            codes[ord(a)] = base_code.get(letter, CODE_N)
    return complement, codes


#: 256-entry tables: ASCII byte -> ASCII byte of its complement (0 for invalid bytes),
#: and ASCII byte -> model code (255 for invalid bytes).
COMPLEMENT_TABLE, CODE_TABLE = _tables()


SequenceLike = str | bytes | bytearray | Seq | np.ndarray


def encode(seq: SequenceLike, *, record_id: str = "<sequence>") -> np.ndarray:
    """Encode a sequence as its ASCII bytes, after checking every letter.

    Parameters
    ----------
    seq : str, bytes or ndarray
        Nucleotide sequence; a ``uint8`` array is taken as already encoded text and
        checked only.
    record_id : str
        Name of the record, used in error messages.

    Returns
    -------
    ndarray
        ``uint8``, shape (L,): the ASCII bytes, case and IUPAC codes preserved.

    Raises
    ------
    UserInputError
        A character outside the IUPAC nucleotide code; the message names the record,
        the 1-based position and the character.
    """
    text = _as_bytes(seq, record_id)
    validate(text, record_id=record_id)
    return text


def decode(text: np.ndarray) -> str:
    """The string of an encoded (ASCII ``uint8``) sequence."""
    return np.asarray(text, dtype=np.uint8).tobytes().decode("ascii")


def validate(text: np.ndarray, *, record_id: str = "<sequence>") -> None:
    """Raise UserInputError at the first byte of ``text`` (uint8, shape (L,)) that is not IUPAC."""
    bad = np.flatnonzero(COMPLEMENT_TABLE[text] == _INVALID)
    if bad.size:
        position = int(bad[0])
        raise UserInputError(
            f"Record {record_id!r} has an invalid character {_show(int(text[position]))} at position "
            f"{position + 1}; allowed are the IUPAC nucleotide codes {VALID_LETTERS} in either case."
        )


def reverse_complement(seq: SequenceLike, *, record_id: str = "<sequence>") -> SequenceLike:
    """Reverse complement with the full IUPAC code, preserving case.

    A<->T, C<->G, R<->Y, K<->M, B<->V, D<->H; S, W and N map to themselves; U maps to A.
    Lowercase (soft-masked) letters stay lowercase.

    Parameters
    ----------
    seq : str, bytes, bytearray, Bio.Seq or ndarray
        The sequence; an ndarray must be ``uint8`` ASCII text, shape (L,).
    record_id : str
        Name of the record, used in error messages.

    Returns
    -------
    str, bytes, bytearray, Bio.Seq or ndarray
        The reverse complement, of the same type as ``seq``.

    Raises
    ------
    UserInputError
        A character outside the IUPAC code (names record, 1-based position, character).

    Examples
    --------
    >>> reverse_complement("ACGTNacgtn")
    'nacgtNACGT'
    >>> reverse_complement("RYKMBVDHSW")
    'WSDHBVKMRY'
    """
    text = _as_bytes(seq, record_id)
    out = COMPLEMENT_TABLE[text[::-1]]
    if (out == _INVALID).any():
        validate(text, record_id=record_id)  # raises, naming the first bad position
    if isinstance(seq, str):
        return out.tobytes().decode("ascii")
    if isinstance(seq, bytes):
        return out.tobytes()
    if isinstance(seq, bytearray):
        return bytearray(out.tobytes())
    if isinstance(seq, Seq):
        return Seq(out.tobytes().decode("ascii"))
    return out


def to_codes(seq: SequenceLike, *, record_id: str = "<sequence>") -> np.ndarray:
    """Model codes of a sequence: A=0, C=1, G=2, T/U=3, any ambiguity code=4.

    Parameters
    ----------
    seq : str, bytes or ndarray
        The sequence; an ndarray must be ``uint8`` ASCII text, shape (L,).
    record_id : str
        Name of the record, used in error messages.

    Returns
    -------
    ndarray
        ``uint8``, shape (L,), values in 0..4.
    """
    text = _as_bytes(seq, record_id)
    codes = CODE_TABLE[text]
    if (codes == 255).any():
        validate(text, record_id=record_id)
    return codes


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of model codes (uint8, shape (L,), values 0..5)."""
    return CODE_COMPLEMENT[np.asarray(codes)[::-1]]


def _as_bytes(seq: SequenceLike, record_id: str) -> np.ndarray:
    if isinstance(seq, str):
        try:
            return np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
        except UnicodeEncodeError as error:
            raise UserInputError(
                f"Record {record_id!r} has an invalid character {seq[error.start]!r} at position "
                f"{error.start + 1}; allowed are the IUPAC nucleotide codes {VALID_LETTERS} in either case."
            ) from None
    if isinstance(seq, bytes | bytearray):
        return np.frombuffer(bytes(seq), dtype=np.uint8)
    if isinstance(seq, Seq):
        return _as_bytes(str(seq), record_id)
    if isinstance(seq, np.ndarray):
        if seq.dtype != np.uint8 or seq.ndim != 1:
            raise TypeError(
                f"The 'seq' parameter must be a str, bytes or 1-D uint8 array. Got an array of dtype {seq.dtype} "
                f"and shape {seq.shape} instead."
            )
        return seq
    raise TypeError(
        f"The 'seq' parameter must be a str, bytes, Bio.Seq or 1-D uint8 array. Got {type(seq).__name__} instead."
    )


def _show(byte: int) -> str:
    char = chr(byte)
    if byte < 128 and char.isprintable():
        return repr(char)
    return f"byte 0x{byte:02x}" if byte < 128 else f"non-ASCII byte 0x{byte:02x}"


def check_codes(codes: Tensor) -> np.ndarray:
    """Check a batch of codes for the DNA encoders; returns it as a uint8 numpy array.

    Raises ValueError unless ``codes`` is a (B, L) integer tensor of codes 0..5 with
    padding only after each sequence (TypeError for a non-tensor). The checks run in
    numpy, which is faster than torch reductions on CPU for these small batches.
    """
    if not isinstance(codes, Tensor):
        raise TypeError(f"DNA encoders take a tensor of codes, shape (B, L). Got {type(codes).__name__} instead.")
    if codes.ndim != 2 or codes.dtype not in (torch.uint8, torch.int64, torch.int32):
        raise ValueError(
            f"DNA encoders take uint8/int codes of shape (B, L). Got dtype {codes.dtype} and shape "
            f"{tuple(codes.shape)} instead."
        )
    array = codes.detach().cpu().numpy()
    if array.size and (array.min() < 0 or array.max() > CODE_PAD):
        raise ValueError(f"DNA codes must lie in 0..{CODE_PAD}. Got values in {int(array.min())}..{int(array.max())}.")
    array = array.astype(np.uint8, copy=False)
    pad = array == CODE_PAD
    if (pad[:, :-1] & ~pad[:, 1:]).any():
        raise ValueError("DNA codes must have padding only after the end of each sequence.")
    return array
