"""Minimal ctypes access to libllm for the tests (the full Python binding lives in
bindings/python). Finds the library through LIBLLM_LIBRARY, set by ctest."""
import ctypes
import os

_lib = ctypes.CDLL(os.environ["LIBLLM_LIBRARY"])
_lib.llm_options_new.restype = ctypes.c_void_p
_lib.llm_options_free.argtypes = [ctypes.c_void_p]
_lib.llm_last_error.restype = ctypes.c_char_p
_lib.llm_last_error.argtypes = [ctypes.c_void_p]
_lib.llm_model_load_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
_lib.llm_model_free.argtypes = [ctypes.c_void_p]
_lib.llm_chat_render.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
                                 ctypes.c_size_t, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t,
                                 ctypes.POINTER(ctypes.c_size_t)]
_lib.llm_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ssize_t, ctypes.c_int,
                              ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]

lib = _lib


class LlmError(Exception):
    def __init__(self, status, message):
        super().__init__(f"status {status}: {message}")
        self.status = status


class Model:
    def __init__(self, path):
        self._opts = _lib.llm_options_new()
        self.handle = ctypes.c_void_p()
        st = _lib.llm_model_load_file(path.encode(), self._opts, ctypes.byref(self.handle))
        if st != 0:
            msg = _lib.llm_last_error(self._opts).decode()
            _lib.llm_options_free(self._opts)
            raise LlmError(st, msg)

    def close(self):
        if self.handle:
            _lib.llm_model_free(self.handle)
            _lib.llm_options_free(self._opts)
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def chat_render(self, messages, add_generation_prompt=True):
        n = len(messages)
        roles = (ctypes.c_char_p * n)(*[m["role"].encode() for m in messages])
        contents = (ctypes.c_char_p * n)(*[m["content"].encode() for m in messages])
        need = ctypes.c_size_t()
        _lib.llm_chat_render(self.handle, roles, contents, n, int(add_generation_prompt), None, 0, ctypes.byref(need))
        buf = ctypes.create_string_buffer(need.value + 1)
        st = _lib.llm_chat_render(self.handle, roles, contents, n, int(add_generation_prompt), buf, len(buf),
                                  ctypes.byref(need))
        if st != 0:
            raise LlmError(st, "chat_render")
        return buf.raw[:need.value].decode()

    def tokenize(self, text, add_bos=True, special=False):
        data = text.encode() if isinstance(text, str) else text
        cap = len(data) + 8
        out = (ctypes.c_int32 * cap)()
        n = ctypes.c_size_t()
        st = _lib.llm_tokenize(self.handle, data, len(data), (1 if add_bos else 0) | (2 if special else 0), out, cap,
                               ctypes.byref(n))
        if st != 0:
            raise LlmError(st, "tokenize")
        return list(out[:n.value])
