"""A reviewer in its own process: `_voter.py STORE TRAIL REQUEST_ID VERDICT KWARGS_JSON`."""

from __future__ import annotations

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from conftest import make_gate  # noqa: E402

store, trail, request_id, verdict, kwargs = sys.argv[1:6]
gate = make_gate(store, pathlib.Path(trail))
kw = json.loads(kwargs)
voter = kw.pop("voter", "user:carol@example.com")
print(gate.vote(request_id, voter, verdict, **kw))
gate.close()
