"""The platform's one BM25 (bm25s, Porter stemmer, English stopwords): keyword scores for search and for the
fine-tuning data's hard-negative mining."""

from __future__ import annotations

import numpy as np

BM25_K1, BM25_B = 0.9, 0.4  # Anserini's MS MARCO passage settings


def _tokenize(texts: list[str], stemmer) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)


class BM25Index:
    """bm25s over a list of texts with the serving settings (Porter stemmer, English stopwords, BM25_K1/BM25_B):
    the one BM25 of the platform, used by search and by the fine-tuning data's hard-negative mining."""

    def __init__(self, texts: list[str]):
        import bm25s
        import Stemmer

        self.size = len(texts)
        self.stemmer = Stemmer.Stemmer("english")
        self.vocabulary: dict[str, int] = {}
        self.model = None
        if texts:
            tokenized = bm25s.tokenize(texts, stopwords="en", stemmer=self.stemmer, show_progress=False)
            self.vocabulary = tokenized.vocab
            self.model = bm25s.BM25(k1=BM25_K1, b=BM25_B)
            self.model.index(tokenized, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text (float32); 0 where no query term occurs."""
        if self.model is None:
            return np.zeros(self.size, np.float32)
        token_ids = [self.vocabulary[t] for t in _tokenize([query], self.stemmer)[0] if t in self.vocabulary]
        if not token_ids:
            return np.zeros(self.size, np.float32)
        return np.asarray(self.model.get_scores(token_ids), dtype=np.float32)
