"""Exceptions. Every failed libllm call raises an :class:`LlmError` (or a subclass chosen by its
status code) carrying ``status`` (the llm_status number), ``status_name`` and the library's
message (llm_last_error of the handle that failed)."""
from __future__ import annotations

from typing import Dict, Type


class LibraryVersionError(ImportError):
    """The loaded libllm.so has another major version than the binding was written for."""


class LlmError(Exception):
    """A libllm call failed. ``status`` is the llm_status code, ``message`` the detail."""

    #: llm_status of this class (subclasses fix it; LlmError itself takes it from the call).
    code: int = -1

    def __init__(self, status: int, message: str = "", status_name: str = "") -> None:
        self.status: int = int(status)
        self.message: str = message
        self.status_name: str = status_name or _STATUS_NAMES.get(self.status, f"status {self.status}")
        text = f"{self.status_name} (status {self.status})"
        if message:
            text += f": {message}"
        super().__init__(text)

    def __reduce__(self):  # picklable despite the custom __init__ (multiprocessing, logging)
        return (self.__class__, (self.status, self.message, self.status_name))


class InvalidArgumentError(LlmError, ValueError):
    """LLM_ERR_INVALID_ARGUMENT: NULL handle, bad option value, out-of-range index."""
    code = 1


class OutOfMemoryError(LlmError, MemoryError):
    """LLM_ERR_OUT_OF_MEMORY."""
    code = 2


class LlmIOError(LlmError, OSError):
    """LLM_ERR_IO: the file cannot be opened, read or mapped."""
    code = 3


class FormatError(LlmError, ValueError):
    """LLM_ERR_FORMAT: malformed input: a GGUF file, a chat template, a grammar."""
    code = 4


class UnsupportedError(LlmError):
    """LLM_ERR_UNSUPPORTED: unknown architecture, tensor type, GGUF version, no chat format..."""
    code = 5


class AbortedError(LlmError):
    """LLM_ERR_ABORTED: an abort or progress callback asked to stop."""
    code = 6


class ContextFullError(LlmError):
    """LLM_ERR_CONTEXT_FULL: the tokens do not fit in the session's context (nothing was fed)."""
    code = 7


class InvalidUtf8Error(LlmError, ValueError):
    """LLM_ERR_INVALID_UTF8: text given to the library is not valid UTF-8."""
    code = 8


class NotFoundError(LlmError, LookupError):
    """LLM_ERR_NOT_FOUND: metadata key or token absent."""
    code = 9


class BufferTooSmallError(LlmError):
    """LLM_ERR_BUFFER_TOO_SMALL (the binding retries with a larger buffer; seen only on a bug)."""
    code = 10


class TypeMismatchError(LlmError, TypeError):
    """LLM_ERR_TYPE_MISMATCH: a metadata value has another type than asked."""
    code = 11


class LimitError(LlmError):
    """LLM_ERR_LIMIT: a configured limit is reached (e.g. max sessions)."""
    code = 12


class BackendError(LlmError):
    """LLM_ERR_BACKEND: the requested backend is not available."""
    code = 13


class StateError(LlmError):
    """LLM_ERR_STATE: call not valid in the handle's current state (also: a closed object)."""
    code = 14


class InternalError(LlmError):
    """LLM_ERR_INTERNAL."""
    code = 15


_STATUS_NAMES: Dict[int, str] = {
    0: "LLM_OK", 1: "LLM_ERR_INVALID_ARGUMENT", 2: "LLM_ERR_OUT_OF_MEMORY", 3: "LLM_ERR_IO",
    4: "LLM_ERR_FORMAT", 5: "LLM_ERR_UNSUPPORTED", 6: "LLM_ERR_ABORTED", 7: "LLM_ERR_CONTEXT_FULL",
    8: "LLM_ERR_INVALID_UTF8", 9: "LLM_ERR_NOT_FOUND", 10: "LLM_ERR_BUFFER_TOO_SMALL",
    11: "LLM_ERR_TYPE_MISMATCH", 12: "LLM_ERR_LIMIT", 13: "LLM_ERR_BACKEND", 14: "LLM_ERR_STATE",
    15: "LLM_ERR_INTERNAL",
}

_BY_STATUS: Dict[int, Type[LlmError]] = {
    cls.code: cls for cls in (InvalidArgumentError, OutOfMemoryError, LlmIOError, FormatError, UnsupportedError,
                              AbortedError, ContextFullError, InvalidUtf8Error, NotFoundError, BufferTooSmallError,
                              TypeMismatchError, LimitError, BackendError, StateError, InternalError)
}


def error_for(status: int, message: str = "") -> LlmError:
    """The exception object for a status code: its subclass, or LlmError for an unknown code."""
    cls = _BY_STATUS.get(int(status), LlmError)
    return cls(int(status), message)


def closed_error(what: str) -> StateError:
    """The error raised when a closed (freed) object is used."""
    return StateError(14, f"the {what} is closed")
