"""The assistant's errors: part of the one family rooted in ``index.errors.NewsqaError``."""

from index.errors import NewsqaError


class AssistantError(NewsqaError):
    """Base class: the message says what is wrong and what to do."""


class EmptyIndex(AssistantError):
    pass


class ModelMissing(AssistantError):
    pass


class ServerUnreachable(AssistantError):
    pass


class InvalidQuestion(AssistantError):
    """A question the chain will not take. ``field`` names the part at fault:
    ``question``, ``as_of``, or ``history[N]`` (N: the turn's index in the history)."""

    def __init__(self, message: str, field: str = "question") -> None:
        super().__init__(message)
        self.field = field


class QuestionTooLong(InvalidQuestion):
    pass


def is_connection_error(error: Exception) -> bool:
    """A model server that cannot be reached (openai, httpx and requests errors)."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(
        names & {"APIConnectionError", "ConnectError", "ConnectionError", "APITimeoutError"}
    )
