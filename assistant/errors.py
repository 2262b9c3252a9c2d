"""Errors a user can act on. The CLI and the UI print their message, never a traceback."""


class AssistantError(RuntimeError):
    """Base class: the message says what is wrong and what to do."""


class EmptyIndex(AssistantError):
    pass


class ModelMissing(AssistantError):
    pass


class ServerUnreachable(AssistantError):
    pass


class QuestionTooLong(AssistantError):
    pass
