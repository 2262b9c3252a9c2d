"""Does the cited sentence state the claim? The model is asked, one short prompt each.

Word overlap (``assistant/verify.py``) finds the source sentence that shares most of an
answer sentence's names and numbers; it cannot tell whether that sentence *says* the
claim: "Fox will acquire Netflix for $25 billion" shares Netflix and $25 billion with a
sentence about NFL revenue. So each kept citation is put to the model as the question,
the answer sentence and the supporting text (the sentence, or two adjacent ones) alone,
and P(yes) of "does the text support the statement?" is read from the first token
(``assistant/answerability.py``: logits for the local model, ``top_logprobs`` for a
served one). Below ``threshold`` the citation goes (after the source's next best
texts, ``verify._stated``), and with its last citation the sentence; an answer with
none left is refused. Of five wordings tried on 28 hand-labelled (sentence, quote)
pairs from the dev sets' drafts, this one separated them best (AUC 0.91; with the
question in the prompt 0.76-0.83): BENCHMARKS.md, issue #25. Off by default
(``NEWSQA_CLAIM_THRESHOLD=0``): replayed on both dev sets' drafts with the default 1.5B
model, every threshold from 0.3 to 0.6 refused about one right answer for each two
wrong ones dropped on the 2026 web set, lowered the 2022 accuracy (0.709 -> 0.68-0.69)
and added ~2.3 s per answer; it is there for a stronger served model (the same prompt
over ``top_logprobs``) and for measuring the next wording.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from assistant.answerability import yes_probability
from assistant.prompts import Prompts


@dataclass
class ClaimCheck:
    """``states(claim, text)`` for ``verify``: one model call per distinct pair."""

    llm: BaseChatModel
    prompts: Prompts
    threshold: float
    config: RunnableConfig | None = None
    seen: dict[tuple[str, str], float] = field(default_factory=dict)
    seconds: float = 0.0

    def probability(self, claim: str, text: str) -> float:
        key = (claim, text)
        if key not in self.seen:
            started = time.perf_counter()
            messages = self.prompts.claim_messages(claim=claim, text=text)
            self.seen[key] = yes_probability(
                self.llm, messages, {**(self.config or {}), "run_name": "claim_check"}
            )
            self.seconds += time.perf_counter() - started
        return self.seen[key]

    def __call__(self, claim: str, text: str) -> bool:
        return self.probability(claim, text) >= self.threshold
