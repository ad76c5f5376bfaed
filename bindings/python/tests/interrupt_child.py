"""Child process of test_interrupt: runs a long generation (or a long prompt feed) that the test
interrupts with SIGINT; then checks that the session still works. Prints progress lines."""
import sys
import time

import libllm

mode, path = sys.argv[1], sys.argv[2]
model = libllm.Model(path, n_ctx=2048)
session = model.session(temperature=0)
prompt = "Once upon a time" if mode != "feed" else " ".join(["the quick brown fox jumps over the lazy dog"] * 180)
print("READY", flush=True)
t0 = time.monotonic()
try:
    if mode == "stream":
        for piece in session.generate(prompt, max_tokens=400, stream=True):
            print("PIECE", repr(piece), flush=True)
    elif mode == "step":
        session.feed(prompt)
        while not session.step().finished:
            pass
    else:
        session.generate(prompt, max_tokens=400)
    print("FINISHED", session.last_completion_tokens, flush=True)
except KeyboardInterrupt:
    print("INTERRUPTED", f"{time.monotonic() - t0:.2f}", flush=True)
session.reset()
text = session.generate("The capital of France is", max_tokens=4)
print("AGAIN", repr(text), session.finish_reason, flush=True)
# Ctrl-C outside a generation still raises KeyboardInterrupt the usual way
import signal  # noqa: E402
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
print("DONE", flush=True)
