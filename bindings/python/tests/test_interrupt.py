"""Ctrl-C (SIGINT) during a generation or a prompt feed stops it through the abort mechanism,
raises KeyboardInterrupt, and leaves the session usable."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import child_env

CHILD = os.path.join(os.path.dirname(__file__), "interrupt_child.py")


@pytest.mark.parametrize("mode", ["generate", "stream", "step", "feed"])
def test_sigint(mode, gemma_file):
    p = subprocess.Popen([sys.executable, CHILD, mode, gemma_file], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        assert p.stdout.readline().strip() == "READY"
        time.sleep(1.5)
        p.send_signal(signal.SIGINT)
        t_signal = time.monotonic()
        lines = []
        for line in p.stdout:
            lines.append(line.strip())
            if line.startswith("INTERRUPTED"):
                latency = time.monotonic() - t_signal
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert any(l.startswith("INTERRUPTED") for l in lines), lines
    assert latency < 5.0  # within a token or a layer, not after 400 tokens
    assert any(l.startswith("AGAIN ") and "length" in l for l in lines), lines
    assert lines[-1] == "DONE"
