"""Token lengths of a fine-tuning set, measured with the base model's tokenizer, and the training
`max_seq_length` they justify (recorded in the dataset's manifest; training.finetune trains at that length).
"""

from __future__ import annotations

import json

import numpy as np

from training.judged_corpus import JudgedCorpus
from training.triplets import Triplets

SEQ_LENGTH_CHOICES = (64, 96, 128, 160, 192, 224, 256)  # 256: the base model's own max_seq_length
PERCENTILES = (50, 90, 95, 99)


def _token_lengths(tokenizer, texts: list[str]) -> np.ndarray:
    """Token count of each text with [CLS] and [SEP], untruncated: what max_seq_length has to cover."""
    lengths = []
    for start in range(0, len(texts), 2048):
        encoded = tokenizer(texts[start : start + 2048], add_special_tokens=True, truncation=False)["input_ids"]
        lengths.extend(len(ids) for ids in encoded)
    return np.asarray(lengths, dtype=np.int64)


def _summary(lengths: np.ndarray) -> dict:
    summary = {f"p{p}": int(np.ceil(np.percentile(lengths, p))) for p in PERCENTILES}
    summary.update(count=int(len(lengths)), mean=round(float(lengths.mean()), 1), max=int(lengths.max()))
    return summary


def choose_max_seq_length(passage_lengths: np.ndarray, base_max: int) -> dict:
    """The smallest of SEQ_LENGTH_CHOICES covering the passages' 99th percentile, capped at the base model's.

    Attention costs grow with the sequence; padding a batch to 256 when 99% of passages fit in less wastes most of a
    CPU step. Truncation only touches the last percent of passages, and only during training."""
    p99 = float(np.percentile(passage_lengths, 99))
    choice = next((c for c in SEQ_LENGTH_CHOICES if c >= p99), SEQ_LENGTH_CHOICES[-1])
    choice = min(choice, base_max)
    return {
        "value": int(choice),
        "rule": f"smallest of {list(SEQ_LENGTH_CHOICES)} >= the passages' p99 token length (with [CLS]/[SEP]), "
        f"capped at the base model's {base_max}; used for training only, the saved model keeps {base_max} "
        "so the index chunks texts exactly as with the base model",
        "passages_truncated_fraction": round(float((passage_lengths > choice).mean()), 4),
        "base_model_max_seq_length": int(base_max),
    }


def token_length_figures(corpus: JudgedCorpus, query_ids: list[str], triplets: Triplets) -> dict:
    """Token-length percentiles (base model's tokenizer) of queries, passages and training passages, and the
    training max_seq_length they justify."""
    from embeddings.chunking import load_tokenizer
    from embeddings.model_source import default_model_dir

    model_dir = default_model_dir()
    tokenizer = load_tokenizer(model_dir)
    base_max = json.loads((model_dir / "sentence_bert_config.json").read_text()).get("max_seq_length", 256)
    passage_lengths = _token_lengths(tokenizer, corpus.texts)
    train_passages = sorted({t["positive"] for t in triplets.rows} | {t["negative"] for t in triplets.rows})
    train_passage_lengths = _token_lengths(tokenizer, train_passages)
    return {
        "token_lengths": {
            "tokenizer": "all-MiniLM-L6-v2 (the base model's), counts include [CLS] and [SEP], untruncated",
            "queries": _summary(_token_lengths(tokenizer, [corpus.queries[q] for q in query_ids])),
            "passages": _summary(passage_lengths),
            "train_passages": _summary(train_passage_lengths) if len(train_passage_lengths) else None,
        },
        "max_seq_length": choose_max_seq_length(passage_lengths, base_max),
    }
