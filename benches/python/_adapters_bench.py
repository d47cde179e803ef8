"""Shared timing helpers of the adapter latency benches (run by hand)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from typing import Callable, Dict, List

import signoff

POLICY = """
[policy]
name = "bench"
default = "deny"

[[rules]]
id = "reads"
effect = "allow"
actions = ["read_file"]
"""


def gate(store: str = "memory") -> signoff.Gate:
    """A gate with a JSON-lines trail (default durability) and the chosen store."""
    folder = tempfile.mkdtemp(prefix="signoff-bench-")
    extra = {} if store == "memory" else {"store": f"sqlite:{os.path.join(folder, 'signoff.db')}"}
    return signoff.Gate(
        signoff.Policy.from_toml(POLICY),
        actor="agent:bench",
        on_behalf_of="user:alice@example.com",
        audit=os.path.join(folder, "audit.jsonl"),
        **extra,  # type: ignore[arg-type]
    )


def timed(run: Callable[[], object], runs: int, warmup: int = 30) -> List[float]:
    for _ in range(warmup):
        run()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        out.append(time.perf_counter() - start)
    return out


def report(name: str, without: List[float], with_: Dict[str, List[float]]) -> None:
    base = statistics.median(without)
    print(f"{name}: one agent run with one allowed tool call, median of {len(without)} runs")
    print(f"  without signoff   {base * 1e3:8.3f} ms")
    for label, samples in with_.items():
        med = statistics.median(samples)
        print(f"  with {label:<12} {med * 1e3:8.3f} ms   added {(med - base) * 1e6:8.1f} µs per allowed call")
