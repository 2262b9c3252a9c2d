"""newsqa's answering chain: questions about indexed news articles, answered with citations.

    from assistant import build_chain
    chain = build_chain()                       # or build_chain(llm=ChatOllama(...))
    answer = chain.invoke("How many officers died in the Coatepec Harinas ambush?")
    print(answer.answer, [c.title for c in answer.citations])

The chain is a LangChain ``Runnable`` in full: ``invoke``/``ainvoke`` return the
``Answer``; ``stream``/``astream`` yield ``AnswerPart``s (text deltas, then the
``Answer``); callbacks, ``astream_events``, ``with_retry``, ``|`` work as for any
Runnable. Input: a question string, a dict, or a ``Question`` (history, ``as_of``,
``Filters``, collection). ``HybridRetriever`` is its retriever, usable on its own.
"""

from assistant.builder import build_chain
from assistant.chain import NewsQA
from assistant.errors import AssistantError
from assistant.retrieval import HybridRetriever
from assistant.types import Answer, AnswerPart, Citation, Filters, Question, Timings, Turn
from index.errors import NewsqaError

__all__ = [
    "Answer",
    "AnswerPart",
    "AssistantError",
    "Citation",
    "Filters",
    "HybridRetriever",
    "NewsQA",
    "NewsqaError",
    "Question",
    "Timings",
    "Turn",
    "build_chain",
]
