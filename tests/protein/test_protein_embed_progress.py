"""embed_sequences gives symcl.embed's bar its total: the number of batches is known."""

import numpy as np

import symcl.embedding
from symcl.domains import protein


def test_embedding_bar_knows_its_total(monkeypatch):
    totals = []
    real_tqdm = symcl.embedding.tqdm

    def recording_tqdm(iterable, *, total=None, **kwargs):
        totals.append(total)
        return real_tqdm(iterable, total=total, **kwargs)

    monkeypatch.setattr(symcl.embedding, "tqdm", recording_tqdm)
    sequences = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEV"[: 10 + i] for i in range(10)]
    model = protein.load_pretrained()
    embedded = protein.embed_sequences(model, sequences, batch_size=3, progress=True)
    assert totals == [4]  # ceil(10 / 3) batches, where "embedding: 4batch" had no total
    np.testing.assert_allclose(embedded, protein.embed_sequences(model, sequences, batch_size=10), atol=1e-5)
