"""Ctrl-C during a long C call.

While libllm computes, the main thread is inside a ctypes call and Python's SIGINT handler cannot
run, so a plain KeyboardInterrupt would only be raised after the call. :class:`InterruptGuard`
(entered around each feed/step on the main thread) instead installs a temporary SIGINT handler
that only records the signal, and switches the session's abort callback to a Python function that
the library polls between layers: there the recorded signal makes the forward pass stop
(LLM_ERR_ABORTED / LLM_FINISH_ABORTED), which leaves the session as it was before that token.
On leaving the guard the previous handler comes back and KeyboardInterrupt is raised.
"""
from __future__ import annotations

import signal
import threading
from typing import Any, Optional

from . import _ffi
from ._handles import _SessionHandle
from .errors import AbortedError


def install_flag_abort(h: _SessionHandle) -> None:
    """The session's resting abort check: C reads the first byte of h.abort_flag (Session.cancel
    sets it from any thread); no Python runs during the forward pass."""
    ptr = h.get()
    if _ffi.ABORT_ON_FLAG is not None:
        h.abort_fn = _ffi.ABORT_ON_FLAG
        _ffi.lib.llm_session_set_abort(ptr, _ffi.ABORT_ON_FLAG, ctypes_addr(h.abort_flag))
    else:  # no libc strlen: a Python check (takes the GIL once per layer)
        flag = h.abort_flag

        def check(_ud: Any) -> int:
            return 1 if flag.raw[0] else 0
        h.abort_fn = _ffi.ABORT_FN(check)
        _ffi.lib.llm_session_set_abort(ptr, h.abort_fn, None)


def ctypes_addr(buf: Any) -> int:
    import ctypes
    return ctypes.addressof(buf)


class InterruptGuard:
    """Context manager around C calls of a session; see the module docstring. Does nothing off the
    main thread, or when SIGINT's handler is not Python's default one (the program chose its own
    behaviour)."""

    __slots__ = ("h", "active", "hit", "previous")

    def __init__(self, h: _SessionHandle) -> None:
        self.h = h
        self.active = False
        self.hit = False
        self.previous: Any = None

    def __enter__(self) -> "InterruptGuard":
        if threading.current_thread() is not threading.main_thread():
            return self
        try:
            previous = signal.getsignal(signal.SIGINT)
        except (ValueError, OSError):
            return self
        if previous is not signal.default_int_handler:
            return self
        self.previous = previous
        self.hit = False

        def on_sigint(_signum: int, _frame: Optional[Any]) -> None:
            self.hit = True

        flag = self.h.abort_flag

        def check(_ud: Any) -> int:
            # Running Python here lets the interpreter deliver a pending SIGINT to on_sigint.
            return 1 if (self.hit or flag.raw[0]) else 0

        signal.signal(signal.SIGINT, on_sigint)
        self.active = True
        self.h.abort_fn = _ffi.ABORT_FN(check)
        _ffi.lib.llm_session_set_abort(self.h.get(), self.h.abort_fn, None)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self.active:
            return
        self.active = False
        signal.signal(signal.SIGINT, self.previous)
        if self.h.session:
            install_flag_abort(self.h)
        if self.hit and (exc_type is None or issubclass(exc_type, AbortedError)):
            # the C call stopped because of the signal (a feed reports LLM_ERR_ABORTED)
            raise KeyboardInterrupt from None
