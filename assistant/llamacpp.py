"""A LangChain chat model over llama-cpp-python: a local GGUF model, streaming.

Our own small ``BaseChatModel`` (langchain-community's wrapper is being retired). The
model is loaded once per process per file and shared, even when several threads ask
first; generation holds a lock, so several threads can call it safely and one
generation runs at a time (a stream closed early releases it at once). Messages are
rendered with the chat template stored in the GGUF file, and the prompt's exact token
count is reported in ``usage_metadata``.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Generator, Iterator
from contextlib import closing
from typing import Any, cast

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from assistant.answerability import YesProbability
from assistant.errors import AssistantError
from assistant.prefix_cache import PrefixCache

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


class _Loaded:
    def __init__(self, path: str, n_ctx: int, n_threads: int) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llama = Llama(
            model_path=path, n_ctx=n_ctx, n_threads=n_threads, n_batch=512, verbose=False
        )
        llama = self.llama

        def token_text(token: int) -> str:
            return llama.detokenize([token], special=True).decode() if token >= 0 else ""

        self.formatter = Jinja2ChatFormatter(
            template=llama.metadata["tokenizer.chat_template"],
            eos_token=token_text(llama.token_eos()),
            bos_token=token_text(llama.token_bos()),
        )
        self.lock = threading.Lock()
        self.prefixes = PrefixCache(llama)

        def first_tokens(words: list[str]) -> set[int]:
            return {llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words}

        self.yes_ids = sorted(first_tokens(["yes", "Yes", " yes", " Yes", "YES"]))
        self.no_ids = sorted(first_tokens(["no", "No", " no", " No", "NO"]))


def _as_messages(messages: list[BaseMessage] | list[tuple[str, str]]) -> list[BaseMessage]:
    from langchain_core.messages import convert_to_messages

    return convert_to_messages(messages)


# Loaded models by (path, n_ctx, n_threads), kept for the life of the process.
_LOADED: dict[tuple[str, int, int], _Loaded] = {}
_LOADING = threading.Lock()


def _load(path: str, n_ctx: int, n_threads: int) -> _Loaded:
    """The one shared model for these settings. Threads asking first at the same time
    wait for one load: two copies would double the memory and, with a lock each, let
    two generations run at once."""
    key = (path, n_ctx, n_threads)
    with _LOADING:
        loaded = _LOADED.get(key)
        if loaded is None:
            loaded = _LOADED[key] = _Loaded(path, n_ctx, n_threads)
            # Free it before interpreter teardown, when llama.cpp's own finaliser would fail.
            atexit.register(loaded.llama.close)
    return loaded


class LlamaCppChat(BaseChatModel):
    model_path: str
    n_ctx: int = 2048
    n_threads: int = max(1, os.cpu_count() or 1)
    max_tokens: int = 160
    temperature: float = 0.0
    # Keep model states of recurring prompt beginnings (prefix_cache.py): the chain asks
    # for it for follow-up rewrites only, so no other answer's arithmetic changes.
    keep_prefixes: bool = False

    @property
    def _llm_type(self) -> str:
        return "newsqa-llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx}

    def load(self) -> None:
        """Load the model now rather than on the first question."""
        _load(self.model_path, self.n_ctx, self.n_threads)

    def _prompt(self, loaded: _Loaded, messages: list[BaseMessage]) -> tuple[list[int], list[str]]:
        chat: list[Any] = [
            {"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages
        ]
        rendered = loaded.formatter(messages=chat)
        tokens = loaded.llama.tokenize(
            rendered.prompt.encode(), add_bos=not rendered.added_special, special=True
        )
        stop = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop or ""]
        return tokens, [s for s in stop if s]

    def yes_probability(self, messages: list[BaseMessage] | list[tuple[str, str]]) -> float:
        """P(yes) / (P(yes) + P(no)) for the first token of the reply: a calibrated
        answer to a yes/no prompt, from one forward pass and no sampling."""
        loaded = _load(self.model_path, self.n_ctx, self.n_threads)
        tokens, _ = self._prompt(loaded, _as_messages(messages))
        seen: list[np.ndarray] = []

        def capture(_ids: Any, scores: np.ndarray) -> np.ndarray:
            if not seen:
                seen.append(scores.copy())
            return scores

        from llama_cpp import LogitsProcessorList

        with loaded.lock:
            if self.keep_prefixes:
                loaded.prefixes.prepare(tokens)
            loaded.llama.create_completion(
                tokens,
                max_tokens=1,
                temperature=0.0,
                logits_processor=LogitsProcessorList([capture]),
            )
        logits = seen[0]
        top = logits.max()
        yes = float(np.exp(logits[loaded.yes_ids] - top).sum())
        no = float(np.exp(logits[loaded.no_ids] - top).sum())
        return yes / (yes + no) if yes + no > 0 else 0.5

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        loaded = _load(self.model_path, self.n_ctx, self.n_threads)
        tokens, template_stop = self._prompt(loaded, messages)
        budget = self.n_ctx - len(tokens)
        if budget < 16:
            raise AssistantError(
                f"prompt of {len(tokens)} tokens does not fit the model's context of {self.n_ctx}"
            )
        generated = 0
        # A consumer that closes this generator early (Stop) ends llama.cpp's completion
        # first, then frees the lock for the next generation.
        with (
            loaded.lock,
            closing(
                cast(  # stream=True: a generator of completion chunks
                    "Generator[Any, None, None]",
                    loaded.llama.create_completion(
                        tokens,
                        max_tokens=min(kwargs.get("max_tokens") or self.max_tokens, budget),
                        temperature=self.temperature,
                        stop=template_stop + (stop or []),
                        stream=True,
                    ),
                )
            ) as parts,
        ):
            if self.keep_prefixes:
                loaded.prefixes.prepare(tokens)
            for part in parts:
                text = part["choices"][0]["text"]
                generated += 1
                if text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk
        usage = UsageMetadata(
            input_tokens=len(tokens), output_tokens=generated, total_tokens=len(tokens) + generated
        )
        yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text, usage = "", None
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            text += str(chunk.message.content)
            usage = getattr(chunk.message, "usage_metadata", None) or usage
        message = AIMessage(content=text, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])


# Declared rather than inherited (a Protocol base clashes with pydantic's metaclass):
# mypy checks here that the refusal check finds the method it looks for.
_COMPUTES_P_YES: type[YesProbability] = LlamaCppChat
