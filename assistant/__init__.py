"""newsqa's answering chain: questions about indexed news articles, answered with citations.

    from assistant import build_chain
    chain = build_chain()                       # or build_chain(llm=ChatOllama(...))
    answer = chain.invoke("How many officers died in the Coatepec Harinas ambush?")
    print(answer.answer, [c.title for c in answer.citations])

The chain is a LangChain ``Runnable``: ``invoke``, ``stream`` (text pieces, then the
``Answer``), ``batch`` and ``ainvoke`` work. Input: a question string, a dict, or a
``Question`` (history, ``as_of``, ``Filters``, collection).
"""

from assistant.builder import build_chain
from assistant.chain import NewsQA
from assistant.errors import AssistantError
from assistant.types import Answer, Citation, Filters, Question, Timings, Turn
from index.errors import NewsqaError

__all__ = [
    "Answer",
    "AssistantError",
    "Citation",
    "Filters",
    "NewsQA",
    "NewsqaError",
    "Question",
    "Timings",
    "Turn",
    "build_chain",
]
