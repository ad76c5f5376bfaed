"""Stepping sessions alone and together (libllm.step_batch): shared by the binding's tests and
tests/backend/test_backend_py.py (the same comparison on the device plugin)."""
import libllm


def step_alone(session, n):
    """Up to n steps of one session (fewer when it finishes), as (token, text, finish)."""
    out = []
    for _ in range(n):
        st = session.step()
        out.append((st.token, st.text, st.finish))
        if st.finished:
            break
    return out


def alone_and_batched(sessions, start, n):
    """start(), then each session stepped alone; start() again, then all stepped together with
    libllm.step_batch, a session leaving the batch when it finishes. Returns both, as per-session
    lists of (token, text, finish)."""
    start()
    alone = [step_alone(s, n) for s in sessions]
    start()
    together = [[] for _ in sessions]
    live = list(range(len(sessions)))
    for _ in range(n):
        if not live:
            break
        res = libllm.step_batch([sessions[i] for i in live])
        for i, st in zip(live, res):
            together[i].append((st.token, st.text, st.finish))
        live = [i for i, st in zip(live, res) if not st.finished]
    return alone, together
