"""The refusal check's probability: computed by the model itself (``YesProbability``), read
from an OpenAI-style ``logprobs`` reply, or from a plain yes or no."""

import math
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from assistant.answerability import YesProbability, first_token_yes, yes_probability
from assistant.fake import RecordingChatModel, ScriptedChatModel
from assistant.llamacpp import LlamaCppChat


def _logprobs(*alternatives: tuple[str, float]) -> dict[str, object]:
    top = [{"token": t, "logprob": math.log(p)} for t, p in alternatives]
    return {
        "content": [
            {"token": alternatives[0][0], "logprob": top[0]["logprob"], "top_logprobs": top}
        ]
    }


def test_yes_share_of_yes_and_no_over_their_spellings() -> None:
    reply = _logprobs(("Yes", 0.6), (" yes", 0.1), ("No", 0.2), ("The", 0.1))
    assert first_token_yes(reply) == pytest.approx(0.7 / 0.9)


def test_none_when_neither_word_or_no_logprobs() -> None:
    assert first_token_yes(_logprobs(("The", 0.9), ("A", 0.1))) is None
    assert first_token_yes(None) is None
    assert first_token_yes({"content": []}) is None
    assert first_token_yes({"content": [{"token": "Yes", "logprob": 0.0}]}) is None


class _NoLogprobs(BaseChatModel):
    """A server-backed model that rejects logprobs requests and answers plainly."""

    calls: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "no-logprobs"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(kwargs)
        if kwargs.get("logprobs"):
            raise ValueError("logprobs is not supported for models created with logits_all=False")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="Yes."))])


def test_a_server_that_rejects_logprobs_is_asked_plainly() -> None:
    model = _NoLogprobs()
    assert yes_probability(model, [("human", "Do the sources answer it?")]) == 1.0
    assert [bool(c.get("logprobs")) for c in model.calls] == [True, False]


CHECK = [("system", "You answer from sources."), ("human", "Do the sources answer it?")]


def test_models_that_compute_p_yes_declare_it() -> None:
    assert isinstance(LlamaCppChat(model_path="model.gguf"), YesProbability)
    assert isinstance(RecordingChatModel(), YesProbability)
    assert not isinstance(ScriptedChatModel(), YesProbability)
    assert not isinstance(_NoLogprobs(), YesProbability)


def test_a_model_that_computes_p_yes_is_not_asked_to_chat() -> None:
    model = RecordingChatModel(confidence=0.37)
    assert yes_probability(model, CHECK) == 0.37
    assert model.checks == [CHECK] and model.prompts == []


@pytest.mark.parametrize("confidence", [0.0, 0.37, 0.81, 1.0])
def test_p_yes_from_a_chat_models_top_logprobs(confidence: float) -> None:
    model = ScriptedChatModel(confidence=confidence)
    assert yes_probability(model, CHECK) == pytest.approx(confidence)
    assert model.checks == [CHECK] and model.prompts == []


@pytest.mark.parametrize(("confidence", "read"), [(0.3, 0.0), (0.9, 1.0)])
def test_a_reply_without_logprobs_is_read_as_yes_or_no(confidence: float, read: float) -> None:
    model = ScriptedChatModel(confidence=confidence, logprobs=False)
    assert yes_probability(model, CHECK) == read
