"""The child-process protocol of ``bench.py``: each measurement runs in a fresh process.

The parent runs ``bench.py --_child COMMAND ...`` (with the same ``--patch`` files); the child
prints JSON objects, one a line: finished rows as they come (lines starting ``{"pair"``) and its
answer last. A child that fails or runs past its time limit becomes an exception in the parent,
naming the command and the telling line of the child's stderr.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import List, Optional, Sequence

from bench_report import short_error

__all__ = ["BENCH_SCRIPT", "CHILD_TIMEOUT_S", "run_child", "reply", "peak_rss_mb"]

BENCH_SCRIPT = Path(__file__).resolve().parent / "bench.py"
CHILD_TIMEOUT_S = 900.0
_ROW_PREFIX = '{"pair"'


def run_child(command: List[str], patches: Sequence[str], env: Optional[dict] = None,
              timeout: float = CHILD_TIMEOUT_S, echo: bool = False) -> dict:
    """Run ``bench.py --_child COMMAND`` in a fresh process; return the JSON object it printed last.

    Args:
        command: the child command and its flags; ``command[2]`` names the subject or pair.
        patches: ``--patch`` files the child imports first.
        env: the child's environment (default: this one).
        timeout: seconds before the child is killed.
        echo: pass the child's row lines through as they come, so a long run shows its progress.
    """
    argv = [sys.executable, str(BENCH_SCRIPT), "--_child", *command]
    for patch in patches:
        argv += ["--patch", patch]
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            proc.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            lines = []
            for line in proc.stdout:
                if echo and line.startswith(_ROW_PREFIX):
                    print(line, end="", flush=True)
                lines.append(line)
            proc.wait()
        finally:
            watchdog.cancel()
        if proc.returncode:
            what = f"child {command[0]} of {command[2]}"
            if killed.is_set():
                raise RuntimeError(f"{what} timed out after {timeout:.0f} s (--child-timeout)")
            stderr.seek(0)
            raise RuntimeError(f"{what} failed: " + short_error(RuntimeError(stderr.read())))
    lines = [line for line in lines if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def reply(answer: dict) -> None:
    """The child's side: print one JSON object on its own line (a row, or the answer, last)."""
    print(json.dumps(answer), flush=True)


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB.

    Not ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` in the parent: on Linux a child started by
    fork/vfork + exec inherits the parent's high-water mark, so every child would report at least
    the benchmark process's own peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
