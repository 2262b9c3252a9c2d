"""How likely the shown sources answer the question, according to the model.

The chain refuses below a threshold (``NEWSQA_REFUSAL_THRESHOLD``), calibrated on the
dev set as a whole (BENCHMARKS.md). The probability is P(yes) / (P(yes) + P(no)) for
the first token of the model's reply to a yes/no prompt: a model that implements
``YesProbability`` computes it itself (our llama.cpp model, from its logits); any other
chat model (one behind an OpenAI-compatible API: llama.cpp's server, vLLM, OpenAI) is
asked for the reply's ``top_logprobs``. A reply without them is read as 1.0 or 0.0, and
a model or server that rejects the request (llama-cpp-python's server started with
``--logits_all false``) is asked again plainly.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from assistant.errors import is_connection_error

TOP_LOGPROBS = 10


@runtime_checkable
class YesProbability(Protocol):
    """A chat model that computes P(yes) / (P(yes) + P(no)) for the first token of its
    reply to ``messages`` itself, in one forward pass and without sampling."""

    def yes_probability(self, messages: list[tuple[str, str]]) -> float: ...


def yes_probability(
    llm: BaseChatModel, messages: list[tuple[str, str]], config: RunnableConfig | None = None
) -> float:
    """``config`` (callbacks, tags) reaches the request, so a tracer sees the check as a
    chat model run; it is never streamed (a streamed reply loses its ``logprobs``)."""
    if isinstance(llm, YesProbability):
        return float(llm.yes_probability(messages))
    try:
        reply = llm.bind(
            max_tokens=1, logprobs=True, top_logprobs=TOP_LOGPROBS, stream=False
        ).invoke(messages, config)
    except Exception as error:  # a model or server that takes no such arguments
        if is_connection_error(error):
            raise
        reply = llm.bind(stream=False).invoke(messages, config)
    from_logprobs = first_token_yes(reply.response_metadata.get("logprobs"))
    if from_logprobs is not None:
        return from_logprobs
    words = str(reply.content).strip().lower().split()
    return 1.0 if words and words[0].strip(".,!") == "yes" else 0.0


def first_token_yes(logprobs: Any) -> float | None:
    """P(yes) / (P(yes) + P(no)) from an OpenAI-style ``logprobs`` object, or None when
    it has no first token or neither word among that token's alternatives."""
    try:
        alternatives = logprobs["content"][0]["top_logprobs"]
    except (KeyError, IndexError, TypeError):
        return None
    mass = {"yes": 0.0, "no": 0.0}
    for alternative in alternatives or []:
        word = str(alternative.get("token", "")).strip().lower()
        if word in mass and alternative.get("logprob") is not None:
            mass[word] += math.exp(float(alternative["logprob"]))
    total = mass["yes"] + mass["no"]
    return mass["yes"] / total if total > 0 else None
