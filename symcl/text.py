"""Decoding the text of input files: UTF-8, with a latin-1 fallback for stray bytes.

Ids such as "contig_é1" stay as written; a byte that is not UTF-8 (a Windows-1252
header of an old file, say) is read as latin-1 rather than refused. Both sequence
readers decode this way, so a file reads alike in every domain.
"""

from __future__ import annotations

import codecs

#: The ``errors`` handler to pass to ``open``, ``gzip.open`` or ``bytes.decode``.
DECODE_ERRORS = "symcl-latin-1-fallback"
codecs.register_error(DECODE_ERRORS, lambda error: (error.object[error.start : error.end].decode("latin-1"), error.end))
