"""How likely the shown sources answer the question, according to the model.

The chain refuses below a threshold (``NEWSQA_REFUSAL_THRESHOLD``), calibrated on the
dev set as a whole (BENCHMARKS.md). Models that expose their next-token distribution
(our llama.cpp model) give a probability; any other chat model is asked the same
yes/no question and its reply read as 1.0 or 0.0.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel


def yes_probability(llm: BaseChatModel, messages: list[tuple[str, str]]) -> float:
    probe = getattr(llm, "yes_probability", None)
    if callable(probe):
        return float(probe(messages))
    try:
        reply = llm.bind(max_tokens=3).invoke(messages)
    except TypeError:
        reply = llm.invoke(messages)
    words = str(reply.content).strip().lower().split()
    return 1.0 if words and words[0].strip(".,!") == "yes" else 0.0
