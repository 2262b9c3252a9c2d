"""Model states of prompt beginnings that come back, so they are not computed again.

llama-cpp-python reuses the model's attention cache (KV) only for the part a prompt
shares with the prompt just before it. The chain's prompts take turns: a follow-up's
rewrite (a fixed instruction and examples, 134 tokens, then the conversation), the
refusal check and the answer (which share their sources and question). So the rewrite's
fixed beginning was computed again for every follow-up: ~2 s of a 2-core CPU.

``PrefixCache`` remembers the last prompts' tokens. When a new prompt begins with at
least ``MIN_TOKENS`` tokens that an earlier one began with too, that beginning recurs:
it is computed on its own and the model's state for it (the KV cells of the sequence,
~28 KB a token for the 1.5B model; not the logits) is kept. A later prompt that begins
with a kept beginning, longer than what the live cache shares with it, has that state
put back before the model reads the rest: the same tokens at the same positions, so
the same computation, only less of the prompt read. llama.cpp's arithmetic moves a little
with how a prompt is split into batches, so a reply can come out otherwise, as it can
when a prompt follows a different one; the chain keeps states for follow-up rewrites
only (``chain.rewriter``), and every other prompt is read exactly as before.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict, deque
from typing import Any

MIN_TOKENS = 48  # shorter shared beginnings (the system prompt) are not worth a state
KEPT_STATES = 8
KEPT_BYTES = 128 * 2**20
RECENT_PROMPTS = 16


def _shared(a: Any, b: list[int]) -> int:
    """How many tokens two token sequences share at their start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PrefixCache:
    """Kept model states for one ``llama_cpp.Llama``; use under the model's lock."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.states: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        self.recent: deque[list[int]] = deque(maxlen=RECENT_PROMPTS)
        self.restored = 0  # prompts that started from a kept state
        self.saved_tokens = 0  # prompt tokens not read again thanks to it

    def prepare(self, tokens: list[int]) -> None:
        """Make the model's cache hold as much of ``tokens``' beginning as it can, from
        a kept state or by keeping a recurring beginning, before the prompt is read."""
        limit = len(tokens) - 1  # the last token is always read: its logits are sampled
        live = _shared(self.llama._input_ids, tokens[:limit])
        kept = max(
            (key for key in self.states if len(key) <= limit and _shared(key, tokens) == len(key)),
            key=len,
            default=None,
        )
        if kept is not None and len(kept) > live and self._restore(kept):
            self.states.move_to_end(kept)
            self.restored += 1
            self.saved_tokens += len(kept) - live
            live = len(kept)
        # The beginning shared with the most alike earlier prompt (the same conversation)
        # and the shortest one shared with another (the prompt's fixed instructions).
        shared = [_shared(seen, tokens[:limit]) for seen in self.recent]
        shared = [n for n in shared if n >= MIN_TOKENS]
        for length in sorted({min(shared), max(shared)} if shared else set()):
            if length > live and tuple(tokens[:length]) not in self.states:
                self._keep(tokens[:length], live)
                live = length
        self.recent.append(list(tokens))

    def _keep(self, beginning: list[int], live: int) -> None:
        """Read ``beginning`` past what the cache holds, and keep the state."""
        llama = self.llama
        llama.n_tokens = live
        llama.eval(beginning[live:])
        from llama_cpp import llama_cpp

        ctx = llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        self.states[tuple(beginning)] = bytes(buffer[:written])
        while len(self.states) > KEPT_STATES or (
            len(self.states) > 1 and sum(map(len, self.states.values())) > KEPT_BYTES
        ):
            self.states.popitem(last=False)

    def _restore(self, beginning: tuple[int, ...]) -> bool:
        """Put a kept state back in the model's cache (False: it would not load)."""
        llama = self.llama
        from llama_cpp import llama_cpp

        state = self.states[beginning]
        llama._ctx.kv_cache_clear()
        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if not llama_cpp.llama_state_seq_set_data(llama._ctx.ctx, buffer, len(state), 0):
            llama.n_tokens = 0  # nothing usable in the cache: the prompt is read whole
            del self.states[beginning]
            return False
        llama.input_ids[: len(beginning)] = beginning
        llama.n_tokens = len(beginning)
        llama._requires_eval = True
        return True
