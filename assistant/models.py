"""Chat models by name: ``llamacpp:qwen2.5-1.5b`` (default), ``llamacpp:qwen2.5-0.5b``,
``openai:MODEL`` (any OpenAI-compatible server: llama.cpp server, vLLM, Ollama), and
``fake`` (a scripted model that echoes its first source, for tests).

This registry is only the default; the chain accepts any LangChain ``BaseChatModel``.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from assistant.errors import AssistantError
from assistant.model_files import MODELS, ModelSpec, ensure_model
from settings import Settings


def refusal_threshold(settings: Settings) -> float:
    """``NEWSQA_REFUSAL_THRESHOLD`` when set; else the one calibrated for the local model
    chosen (a 0.5B model's P(yes) stays far below the 1.5B's for the same sources); else
    ``ModelSpec``'s default, the default model's, for a model served elsewhere."""
    if settings.refusal_threshold is not None:
        return settings.refusal_threshold
    backend, _, name = settings.llm.partition(":")
    spec = MODELS.get(name) if backend == "llamacpp" else None
    return spec.refusal_threshold if spec else ModelSpec.refusal_threshold


def get_chat_model(settings: Settings, progress: bool = True) -> BaseChatModel:
    backend, _, name = settings.llm.partition(":")
    if backend == "llamacpp":
        from assistant.llamacpp import LlamaCppChat

        if name not in MODELS:
            raise AssistantError(
                f"NEWSQA_LLM={settings.llm!r}: unknown local model; use one of "
                + ", ".join(f"llamacpp:{m}" for m in MODELS)
            )
        path = ensure_model(MODELS[name], settings.model_cache_dir, progress)
        return LlamaCppChat(
            model_path=str(path), n_ctx=settings.llm_ctx, max_tokens=settings.llm_max_tokens
        )
    if backend == "openai" and name:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=name,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,  # type: ignore[arg-type]
            temperature=0,
            max_tokens=settings.llm_max_tokens,  # type: ignore[call-arg]
            stream_usage=True,
            timeout=120,
            max_retries=1,
        )
    if backend == "fake":  # for tests and demos: echoes the first source, cited
        from assistant.fake import RecordingChatModel

        return RecordingChatModel(echo=True)
    raise AssistantError(f"NEWSQA_LLM={settings.llm!r}: use llamacpp:NAME or openai:MODEL")
