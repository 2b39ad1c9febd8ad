import hashlib

from symcl.sources import fingerprint


def test_a_fingerprint_is_the_size_and_sha256_of_the_bytes_without_python_311s_file_digest(tmp_path, monkeypatch):
    monkeypatch.delattr(hashlib, "file_digest", raising=False)  # as on Python 3.10, which pyproject allows
    path = tmp_path / "genome.fa"
    data = b">a\n" + b"ACGT" * 700_000  # more than one 1 MiB block
    path.write_bytes(data)
    assert fingerprint(path) == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
