"""Answer quality and latency: newsqa against the LangChain tutorial pipeline, same models.

    python benchmarks/answer.py [--data ../shared/data/realtimeqa-dev] [--out bench-out]
                                [--limit N] [--skip-noise]

1. The dev questions (open, no choices) over the gold articles, through newsqa's chain
   and, in the same run, through the tutorial pipeline: RecursiveCharacterTextSplitter
   1000/200, Chroma, k=4, the classic "use the following pieces of retrieved context"
   prompt, with the same LLM and embeddings. Both are scored by ``eval`` and their
   summaries printed side by side.
2. With ``noise.jsonl`` added to the corpus, retrieval only: Hits@5 and retrieval
   latency p50/p95 (question embedding included) for newsqa, Hits@5 for the tutorial.
Results land in OUT/{newsqa,tutorial,newsqa-noise,tutorial-noise}/ as eval runs do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel

from assistant.builder import build_chain
from assistant.models import get_chat_model
from assistant.types import Answer, Question, Timings
from eval.report import METRICS, write_reports
from eval.runner import run_items
from eval.sets import load_set
from index.collection import NewsCollection
from index.embeddings import load_embeddings, model_path
from index.ingest import ingest
from settings import get_settings

TUTORIAL_PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of "
    "retrieved context to answer the question. If you don't know the answer, just say "
    "that you don't know. Use three sentences maximum and keep the answer concise.\n"
    "Question: {question}\nContext: {context}\nAnswer:"
)


class TutorialQA:
    """The LangChain RAG tutorial's chain, answering through eval's interface."""

    def __init__(self, store: Any, llm: BaseChatModel | None) -> None:
        self.store = store
        self.llm = llm

    def retrieve(self, question: Question) -> list[Document]:
        return list(self.store.similarity_search(question.question, k=4))

    def stream(self, question: Question) -> Iterator[str | Answer]:
        assert self.llm is not None
        started = time.perf_counter()
        docs = self.retrieve(question)
        timings = Timings(retrieval_s=time.perf_counter() - started)
        context = "\n\n".join(d.page_content for d in docs)
        text = ""
        for chunk in self.llm.stream(
            [("human", TUTORIAL_PROMPT.format(question=question.question, context=context))]
        ):
            usage = getattr(chunk, "usage_metadata", None)
            if usage:
                timings.prompt_tokens = usage.get("input_tokens", 0)
            if isinstance(chunk.content, str) and chunk.content:
                if timings.ttft_s is None:
                    timings.ttft_s = time.perf_counter() - started
                text += chunk.content
                yield chunk.content
        timings.total_s = time.perf_counter() - started
        lowered = text.lower().replace("’", "'")
        refused = "don't know" in lowered or "do not know" in lowered
        yield Answer(
            answer=text.strip(),
            refused=refused,
            timings=timings,
            retrieved=list(dict.fromkeys(d.metadata["article_id"] for d in docs)),
        )


def _tutorial_store(paths: list[Path], workdir: Path) -> Any:
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = [
        Document(page_content=r["text"], metadata={"article_id": str(r["id"])})
        for p in paths
        for r in map(json.loads, p.open())
    ]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        docs
    )
    embeddings = HuggingFaceEmbeddings(model_name=str(model_path()))
    return Chroma.from_documents(splits, embeddings, persist_directory=str(workdir))


def _run(
    name: str,
    chain: Any,
    items: list[Any],
    out: Path,
    aliases: dict[str, set[str]],
    retrieval_only: bool,
    context: dict[str, Any],
) -> dict[str, Any]:
    print(f"\n== {name}", flush=True)
    results = run_items(chain, items, out / name, aliases=aliases, retrieval_only=retrieval_only)
    return write_reports(out / name, results, {"pipeline": name, **context})["metrics"]


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=here.parent / "shared/data/realtimeqa-dev")
    parser.add_argument("--out", type=Path, default=here / "bench-out")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--skip-noise", action="store_true")
    args = parser.parse_args()
    items = load_set(args.data / "questions.jsonl")[: args.limit]
    gold, noise = args.data / "articles.jsonl", args.data / "noise.jsonl"
    settings = get_settings()
    embeddings = load_embeddings(settings.embed_precision, settings.embed_batch)
    llm = get_chat_model(settings)
    context = {"llm": settings.llm, "set": str(args.data / "questions.jsonl")}
    table: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mine = settings.model_copy(update={"data_dir": work / "newsqa", "collection": "gold"})
        collection = NewsCollection(mine, embeddings=embeddings, create=True)
        ingest(collection, [gold], progress=False)
        aliases = collection.catalog.aliases()
        chain = build_chain(mine, llm=llm, embeddings=embeddings)
        table["newsqa"] = _run("newsqa", chain, items, args.out, aliases, False, context)
        tutorial = TutorialQA(_tutorial_store([gold], work / "tutorial"), llm)
        table["tutorial"] = _run("tutorial", tutorial, items, args.out, aliases, False, context)
        if not args.skip_noise:
            ingest(collection, [noise], progress=True)
            table["newsqa-noise"] = _run(
                "newsqa-noise", chain, items, args.out, aliases, True, context
            )
            noisy = TutorialQA(_tutorial_store([gold, noise], work / "tutorial-noise"), None)
            table["tutorial-noise"] = _run(
                "tutorial-noise", noisy, items, args.out, aliases, True, context
            )
    names = list(table)
    print("\n" + f"{'metric':<24}" + "".join(f"{n:>16}" for n in names))
    for metric in METRICS:
        cells = [table[n].get(metric) for n in names]
        print(
            f"{metric:<24}"
            + "".join(
                f"{'-' if v is None else (f'{v:.3f}' if v <= 1.5 else f'{v:.2f}'):>16}"
                for v in cells
            )
        )
    (args.out / "comparison.json").write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
