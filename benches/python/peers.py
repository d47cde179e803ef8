"""Side-by-side bench: signoff against the Python packages a user would pick instead.

One process, one 10-rule policy written in each engine's own language (action
names, plus the one condition `env == "prod" && args.rows <= 1000` where the
engine has conditions). Before anything is timed, every engine is asked an
allowed and a denied question and must answer both right. Then each call runs
in 7 rounds, the engines alternating inside every round (the order rotates),
and the table gives the median per call with the min and max round and the
ratio to signoff. A bench, run by hand: not a test, not in scripts/test.

Run from the repository root, against a release build of signoff installed in
the bench's own venv (git-ignored; never the project's .venv):

    python3 -m venv benches/python/.venv
    benches/python/.venv/bin/pip install "maturin>=1.16,<2" -r benches/python/requirements.txt
    benches/python/.venv/bin/maturin build --release --locked \\
        -m bindings/python/Cargo.toml -o target/bench-wheels
    benches/python/.venv/bin/pip install --force-reinstall --no-deps target/bench-wheels/signoff-*.whl
    benches/python/.venv/bin/python benches/python/peers.py

(`maturin develop --release` would also work but writes the release `.so`
into bindings/python, over the debug build the tests use.)

Options: `--rounds N` (default 7), `--round-seconds S` (target length of one
engine's round, default 0.25), `--only evaluate,trail,durable`.

The peers, and what each call means for them:

- air-gate (`air_gate`): `PolicyEngine.evaluate` (names only: it has no
  conditions, so the rows limit is not expressed); `GateClient.check` with a
  `.jsonl` store (one signed record appended per call, opened and closed each
  time, never fsynced) and with a `.db` store (SQLite, one commit per call,
  synchronous=FULL: durable). Its chain lives in memory without a lock, so
  from 16 threads its calls are serialised by a lock here.
- tollgate: `YamlPolicyEvaluator.evaluate` (the condition as `when` on the
  request's metadata); `ControlTower.execute_async` with `AutoApprover` and
  `JsonlAuditSink` (one record after the tool ran, line-buffered, never
  fsynced), driven from one event loop. No durable mode.
- casbin (PyPI `pycasbin`): `Enforcer.enforce` with `eval()` of a per-rule
  condition, and the same rules by name only (no eval). No audit trail.
- cedarpy: `is_authorized` with a pre-parsed `PolicySet` and `Entities`. No
  audit trail.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

ACTOR = "agent:bench"
ENV = "prod"
ALLOWED_ARGS: Dict[str, Any] = {"rows": 10, "sql": "select * from invoices where id = 42"}
OVER_LIMIT_ARGS: Dict[str, Any] = {"rows": 5000, "sql": "select * from invoices"}

# The 10 rules, in order: (id, effect, action). The last one, the one every
# timed call hits, carries the condition; first-match engines scan all ten.
RULES: List[Tuple[str, str, str]] = [
    ("fs-read", "allow", "fs.read"),
    ("http-get", "allow", "http.get"),
    ("email-draft", "allow", "email.draft"),
    ("no-drop", "deny", "sql.drop"),
    ("no-delete", "deny", "fs.delete"),
    ("no-shell", "deny", "shell.exec"),
    ("no-payments", "deny", "payments.send"),
    ("no-iam", "deny", "iam.grant"),
    ("kv-read", "allow", "kv.get"),
    ("reads", "allow", "db.query"),  # when env == "prod" && args.rows <= 1000
]
CONDITION_RULE = "reads"


def signoff_toml() -> str:
    out = ['[policy]\nname = "bench"\ndefault = "deny"\n']
    for rule_id, effect, action in RULES:
        out.append(f'[[rules]]\nid = "{rule_id}"\neffect = "{effect}"\nactions = ["{action}"]\n')
        if rule_id == CONDITION_RULE:
            out.append("when = 'env == \"prod\" && args.rows <= 1000'\n")
    return "\n".join(out)


def tollgate_yaml() -> str:
    out = ['version: "bench"', "rules:"]
    for rule_id, effect, action in RULES:
        out.append(f'  - id: "{rule_id}"')
        out.append(f'    tool: "{action}"')
        out.append(f'    decision: "{"ALLOW" if effect == "allow" else "DENY"}"')
        if rule_id == CONDITION_RULE:
            out.append("    when:")
            out.append('      env: "prod"')
            out.append('      rows: {"<=": 1000}')
    return "\n".join(out) + "\n"


CASBIN_MODEL = """[request_definition]
r = sub, act, env, rows

[policy_definition]
p = act, cond, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = r.act == p.act && eval(p.cond)
"""


CASBIN_MODEL_NAMES = """[request_definition]
r = sub, act

[policy_definition]
p = act, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = r.act == p.act
"""


def casbin_policy_csv() -> str:
    lines = []
    for rule_id, effect, action in RULES:
        cond = 'r.env == "prod" && r.rows <= 1000' if rule_id == CONDITION_RULE else "True"
        lines.append(f"p, {action}, {cond}, {effect}")
    return "\n".join(lines) + "\n"


def cedar_policies() -> str:
    out = []
    for rule_id, effect, action in RULES:
        kind = "permit" if effect == "allow" else "forbid"
        text = f'@id("{rule_id}")\n{kind}(principal, action == Action::"{action}", resource)'
        if rule_id == CONDITION_RULE:
            text += ' when { context.env == "prod" && context.args.rows <= 1000 }'
        out.append(text + ";")
    return "\n".join(out) + "\n"


def air_gate_config() -> Dict[str, Any]:
    return {
        "default": "block",
        "rules": [
            {
                "name": rule_id,
                "action_type": action,
                "decision": "auto_allow" if effect == "allow" else "block",
            }
            for rule_id, effect, action in RULES
        ],
    }


# ── engines ──────────────────────────────────────────────────────────────


class Engine:
    """One way of making the call: `call()` does one decision and returns
    whether it was allowed; `check()` asks the allowed and denied questions
    and raises if an answer is wrong."""

    def __init__(self, name: str, call: Callable[[], Any], check: Callable[[], None], *,
                 batch: Optional[Callable[[int], None]] = None, note: str = "") -> None:
        self.name = name
        self.call = call
        self.check = check
        self.note = note
        # runs `n` calls; by default a plain loop over `call`
        self.batch = batch or (lambda n, f=call: _loop(f, n))


def _loop(f: Callable[[], Any], n: int) -> None:
    for _ in range(n):
        f()


def expect(engine: str, case: str, got: Any, want: Any) -> None:
    if got != want:
        raise SystemExit(f"{engine}: {case}: expected {want!r}, got {got!r}: not timing an engine that does not decide")


class Unavailable(Exception):
    pass


def signoff_version() -> str:
    try:
        return importlib.metadata.version("signoff")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def native_size() -> int:
    import signoff
    folder = pathlib.Path(signoff.__file__).parent
    return sum(p.stat().st_size for p in folder.glob("_signoff*.so"))


def make_evaluate_engines() -> Tuple[List[Engine], List[str]]:
    missing: List[str] = []
    engines: List[Engine] = []

    import signoff
    policy = signoff.Policy.from_toml(signoff_toml())
    assert len(policy.rules) == 10

    def so_eval(args: Dict[str, Any] = ALLOWED_ARGS, name: str = "db.query") -> str:
        return policy.evaluate(name, actor=ACTOR, env=ENV, args=args).effect

    def so_check() -> None:
        expect("signoff", "allowed", so_eval(), "allow")
        expect("signoff", "rows over the limit", so_eval(OVER_LIMIT_ARGS), "deny")
        expect("signoff", "sql.drop", so_eval(ALLOWED_ARGS, "sql.drop"), "deny")
        expect("signoff", "rule", policy.evaluate("db.query", actor=ACTOR, env=ENV, args=ALLOWED_ARGS).rules, ["reads"])

    engines.append(Engine("signoff Policy.evaluate", lambda: so_eval() == "allow", so_check))

    try:
        from air_gate.policy import PolicyEngine
        ag = PolicyEngine.from_config(air_gate_config())

        def ag_eval(action: str = "db.query", payload: Dict[str, Any] = ALLOWED_ARGS) -> str:
            return ag.evaluate(ACTOR, action, action, payload)["decision"]

        def ag_check() -> None:
            expect("air-gate", "allowed", ag_eval(), "auto_allow")
            expect("air-gate", "sql.drop", ag_eval("sql.drop"), "block")
            expect("air-gate", "unknown action", ag_eval("x.unknown"), "block")

        engines.append(Engine("air-gate PolicyEngine.evaluate", lambda: ag_eval() == "auto_allow", ag_check,
                              note="names only: no conditions, rows limit not expressed"))
    except ImportError as e:
        missing.append(f"air-gate: {e}")

    try:
        tg = tollgate_setup()
        engines.append(Engine("tollgate YamlPolicyEvaluator", tg["eval_call"], tg["eval_check"]))
    except Unavailable as e:
        missing.append(f"tollgate: {e}")

    try:
        import casbin
        folder = pathlib.Path(tempfile.mkdtemp(prefix="signoff-peers-casbin-"))
        (folder / "model.conf").write_text(CASBIN_MODEL)
        (folder / "policy.csv").write_text(casbin_policy_csv())
        enforcer = casbin.Enforcer(str(folder / "model.conf"), str(folder / "policy.csv"))

        def cb_check() -> None:
            expect("casbin", "allowed", enforcer.enforce(ACTOR, "db.query", ENV, 10), True)
            expect("casbin", "rows over the limit", enforcer.enforce(ACTOR, "db.query", ENV, 5000), False)
            expect("casbin", "sql.drop", enforcer.enforce(ACTOR, "sql.drop", ENV, 10), False)

        engines.append(Engine("casbin enforce (eval condition)", lambda: enforcer.enforce(ACTOR, "db.query", ENV, ALLOWED_ARGS["rows"]), cb_check,
                              note="simpleeval parses each rule's condition on every call"))

        (folder / "model.conf").write_text(CASBIN_MODEL_NAMES)
        (folder / "policy.csv").write_text("".join(f"p, {action}, {effect}\n" for _, effect, action in RULES))
        names_only = casbin.Enforcer(str(folder / "model.conf"), str(folder / "policy.csv"))
        shutil.rmtree(folder)

        def cbn_check() -> None:
            expect("casbin names", "allowed", names_only.enforce(ACTOR, "db.query"), True)
            expect("casbin names", "sql.drop", names_only.enforce(ACTOR, "sql.drop"), False)
            expect("casbin names", "unknown action", names_only.enforce(ACTOR, "x.unknown"), False)

        engines.append(Engine("casbin enforce (names only)", lambda: names_only.enforce(ACTOR, "db.query"), cbn_check,
                              note="no condition: rows limit not expressed"))
    except ImportError as e:
        missing.append(f"casbin (pycasbin): {e}")

    try:
        import cedarpy
        policy_set = cedarpy.PolicySet.from_str(cedar_policies())
        entities = cedarpy.Entities.from_json_str("[]")

        def cedar(action: str, args: Dict[str, Any]) -> bool:
            return cedarpy.is_authorized(
                {
                    "principal": 'Agent::"bench"',
                    "action": f'Action::"{action}"',
                    "resource": 'Tool::"db"',
                    "context": {"env": ENV, "args": args},
                },
                policy_set,
                entities,
            ).allowed

        def cedar_check() -> None:
            expect("cedarpy", "allowed", cedar("db.query", ALLOWED_ARGS), True)
            expect("cedarpy", "rows over the limit", cedar("db.query", OVER_LIMIT_ARGS), False)
            expect("cedarpy", "sql.drop", cedar("sql.drop", ALLOWED_ARGS), False)

        engines.append(Engine("cedarpy is_authorized", lambda: cedar("db.query", ALLOWED_ARGS), cedar_check,
                              note="pre-parsed PolicySet and Entities"))
    except ImportError as e:
        missing.append(f"cedarpy: {e}")

    return engines, missing


_TOLLGATE: Dict[str, Any] = {}


def tollgate_setup() -> Dict[str, Any]:
    """Tollgate's policy from its YAML file, plus a tower with a JSONL sink."""
    if _TOLLGATE:
        return _TOLLGATE
    try:
        import tollgate
        from tollgate import (AgentContext, AutoApprover, ControlTower, DecisionType, Effect, Intent,
                              JsonlAuditSink, ToolRequest, TollgateDenied, YamlPolicyEvaluator)
    except ImportError as e:
        raise Unavailable(str(e)) from e
    folder = pathlib.Path(tempfile.mkdtemp(prefix="signoff-peers-tollgate-"))
    (folder / "policy.yaml").write_text(tollgate_yaml())
    evaluator = YamlPolicyEvaluator(folder / "policy.yaml")
    agent = AgentContext(agent_id=ACTOR, version="1", owner="bench")
    intent = Intent(action="query", reason="bench")

    def request(action: str, args: Dict[str, Any]) -> Any:
        # the tool's args travel as params; the condition reads metadata
        return ToolRequest(tool=action, action=action, resource_type="db", effect=Effect.READ,
                           params=args, metadata={"env": ENV, "rows": args["rows"]}, manifest_version="1")

    def ev(action: str = "db.query", args: Dict[str, Any] = ALLOWED_ARGS) -> Any:
        return evaluator.evaluate(agent, intent, request(action, args)).decision

    def eval_check() -> None:
        expect("tollgate", "allowed", ev(), DecisionType.ALLOW)
        expect("tollgate", "rows over the limit", ev("db.query", OVER_LIMIT_ARGS), DecisionType.DENY)
        expect("tollgate", "sql.drop", ev("sql.drop"), DecisionType.DENY)

    _TOLLGATE.update(
        module=tollgate, folder=folder, evaluator=evaluator, agent=agent, intent=intent, request=request,
        eval_call=lambda: ev() == DecisionType.ALLOW, eval_check=eval_check, denied=TollgateDenied,
        tower=lambda path: ControlTower(evaluator, AutoApprover(), JsonlAuditSink(path)),
    )
    return _TOLLGATE


def count_lines(path: pathlib.Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def make_trail_engines(folder: pathlib.Path) -> Tuple[List[Engine], List[str], List[Callable[[], None]]]:
    """require + complete with an os-buffered JSONL trail, and each peer's
    closest call: decide and append an audit record to a JSONL file."""
    missing: List[str] = []
    engines: List[Engine] = []
    closers: List[Callable[[], None]] = []

    import signoff
    policy = signoff.Policy.from_toml(signoff_toml())
    so_trail = folder / "signoff-os-buffered.jsonl"
    gate = signoff.Gate(policy, audit=str(so_trail), durability="os-buffered")
    closers.append(gate.close)

    def so_call() -> None:
        permit = gate.require("db.query", actor=ACTOR, env=ENV, args=ALLOWED_ARGS)
        permit.complete()

    def so_check() -> None:
        so_call()
        try:
            gate.require("sql.drop", actor=ACTOR, env=ENV, args=ALLOWED_ARGS)
        except signoff.Denied as denied:
            expect("signoff", "sql.drop rule", denied.rule, "no-drop")
        else:
            raise SystemExit("signoff: sql.drop was not denied")
        try:
            gate.require("db.query", actor=ACTOR, env=ENV, args=OVER_LIMIT_ARGS)
        except signoff.Denied:
            pass
        else:
            raise SystemExit("signoff: rows over the limit was not denied")
        time.sleep(0.05)  # os-buffered records are written within 10 ms
        if count_lines(so_trail) == 0:
            raise SystemExit("signoff: the os-buffered trail is empty")

    engines.append(Engine("signoff require+complete (os-buffered)", so_call, so_check))

    try:
        from air_gate import GateClient
        ag_trail = folder / "air-gate.jsonl"
        client = GateClient(signing_key="bench-key", storage_path=str(ag_trail), policy_config=air_gate_config())

        def ag_check() -> None:
            before = count_lines(ag_trail)
            expect("air-gate", "allowed", client.check(ACTOR, "db.query", "db.query", payload=ALLOWED_ARGS)["decision"], "auto_allowed")
            expect("air-gate", "sql.drop", client.check(ACTOR, "sql.drop", "sql.drop", payload=ALLOWED_ARGS)["decision"], "blocked")
            expect("air-gate", "records written", count_lines(ag_trail) - before, 2)
            expect("air-gate", "chain", client.verify().get("valid"), True)

        engines.append(Engine("air-gate GateClient.check (JSONL)",
                              lambda: client.check(ACTOR, "db.query", "db.query", payload=ALLOWED_ARGS),
                              ag_check, note="names only; one record per call; chain kept in memory"))
    except ImportError as e:
        missing.append(f"air-gate: {e}")

    try:
        tg = tollgate_setup()
        tg_trail = folder / "tollgate.jsonl"
        tower = tg["tower"](tg_trail)
        agent, intent, request = tg["agent"], tg["intent"], tg["request"]
        allowed_request = request("db.query", ALLOWED_ARGS)

        async def tool() -> str:
            return "ok"

        async def tg_many(n: int) -> None:
            for _ in range(n):
                # a fresh request per call, as each tool call brings its own
                await tower.execute_async(agent, intent, request("db.query", ALLOWED_ARGS), tool)

        loop = asyncio.new_event_loop()
        closers.append(loop.close)

        def tg_check() -> None:
            before = count_lines(tg_trail)
            expect("tollgate", "allowed", loop.run_until_complete(tower.execute_async(agent, intent, allowed_request, tool)), "ok")
            try:
                loop.run_until_complete(tower.execute_async(agent, intent, request("sql.drop", ALLOWED_ARGS), tool))
            except tg["denied"]:
                pass
            else:
                raise SystemExit("tollgate: sql.drop was not denied")
            expect("tollgate", "records written", count_lines(tg_trail) - before, 2)

        engines.append(Engine("tollgate ControlTower.execute_async (JSONL)",
                              lambda: loop.run_until_complete(tg_many(1)), tg_check,
                              batch=lambda n: loop.run_until_complete(tg_many(n)),
                              note="AutoApprover, JsonlAuditSink; one event loop for the whole round"))
    except Unavailable as e:
        missing.append(f"tollgate: {e}")

    missing.append("casbin, cedarpy: no audit trail (decision only)")
    return engines, missing, closers


def make_durable_engines(folder: pathlib.Path, threads: int) -> Tuple[List[Engine], List[str], List[Callable[[], None]]]:
    """The durable default (group commit) against the peers' durable store,
    from one caller or from `threads` threads (decisions/s)."""
    missing: List[str] = []
    engines: List[Engine] = []
    closers: List[Callable[[], None]] = []

    import signoff
    policy = signoff.Policy.from_toml(signoff_toml())
    gate = signoff.Gate(policy, audit=str(folder / f"signoff-durable-{threads}.jsonl"))
    closers.append(gate.close)

    def so_call() -> None:
        permit = gate.require("db.query", actor=ACTOR, env=ENV, args=ALLOWED_ARGS)
        permit.complete()

    def so_check() -> None:
        so_call()
        try:
            gate.require("sql.drop", actor=ACTOR, env=ENV, args=ALLOWED_ARGS)
        except signoff.Denied:
            pass
        else:
            raise SystemExit("signoff: sql.drop was not denied")

    engines.append(Engine(f"signoff require+complete (durable group, {threads} thr)", so_call, so_check,
                          batch=threaded(so_call, threads)))

    try:
        from air_gate import GateClient
        client = GateClient(signing_key="bench-key", storage_path=str(folder / f"air-gate-{threads}.db"),
                            policy_config=air_gate_config())
        lock = threading.Lock()

        def ag_call() -> None:
            with lock:  # its in-memory chain has no lock of its own
                client.check(ACTOR, "db.query", "db.query", payload=ALLOWED_ARGS)

        def ag_check() -> None:
            expect("air-gate", "allowed", client.check(ACTOR, "db.query", "db.query", payload=ALLOWED_ARGS)["decision"], "auto_allowed")
            expect("air-gate", "sql.drop", client.check(ACTOR, "sql.drop", "sql.drop", payload=ALLOWED_ARGS)["decision"], "blocked")
            import sqlite3
            with sqlite3.connect(folder / f"air-gate-{threads}.db") as db:
                expect("air-gate", "rows stored", db.execute("select count(*) from events").fetchone()[0], 2)

        engines.append(Engine(f"air-gate GateClient.check (SQLite, {threads} thr)", ag_call, ag_check,
                              batch=threaded(ag_call, threads),
                              note="serialised by a lock from several threads" if threads > 1 else "one commit per call"))
    except ImportError as e:
        missing.append(f"air-gate: {e}")
    missing.append("tollgate: no durable mode (its JSONL sink never fsyncs)")
    return engines, missing, closers


def threaded(call: Callable[[], None], threads: int) -> Callable[[int], None]:
    if threads == 1:
        return lambda n: _loop(call, n)

    def run(n: int) -> None:
        per = max(1, n // threads)
        workers = [threading.Thread(target=_loop, args=(call, per)) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    return run


# ── timing ───────────────────────────────────────────────────────────────


def calibrate(engine: Engine, seconds: float, threads: int = 1) -> int:
    n = threads
    while True:
        start = time.perf_counter()
        engine.batch(n)
        took = time.perf_counter() - start
        if took >= seconds / 5 or n >= 50_000_000:
            break
        n *= 4 if took < seconds / 50 else 2
    return max(threads, int(n * seconds / max(took, 1e-9)) // threads * threads)


def run_rounds(engines: List[Engine], rounds: int, seconds: float, threads: int = 1) -> Dict[str, List[float]]:
    """Per engine: seconds per call in each round, engines alternating."""
    counts = {e.name: calibrate(e, seconds, threads) for e in engines}
    samples: Dict[str, List[float]] = {e.name: [] for e in engines}
    for r in range(rounds):
        order = engines[r % len(engines):] + engines[: r % len(engines)]
        for e in order:
            n = counts[e.name]
            gc.collect()
            start = time.perf_counter_ns()
            e.batch(n)
            took = time.perf_counter_ns() - start
            samples[e.name].append(took / n / 1e9)
    return samples


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:9.2f} µs"
    return f"{s * 1e3:9.2f} ms"


def fmt_rate(s: float) -> str:
    return f"{1 / s:>10,.0f}/s"


def report(title: str, engines: List[Engine], samples: Dict[str, List[float]], *, rate: bool = False,
           baseline: Optional[float] = None) -> Dict[str, Any]:
    base_name = engines[0].name
    base = statistics.median(samples[base_name])
    fmt = fmt_rate if rate else fmt_time
    print(f"\n## {title}")
    if baseline is not None:
        print(f"(a bare Python call in the same loop costs {baseline * 1e6:.3f} µs; included in every row)")
    print(f"{'engine':<52} {'median':>13} {'min':>13} {'max':>13}  vs signoff")
    out: Dict[str, Any] = {}
    for e in engines:
        s = samples[e.name]
        med = statistics.median(s)
        lo, hi = (max(s), min(s)) if rate else (min(s), max(s))
        ratio = med / base
        rel = "1.00" if e.name == base_name else (f"signoff {ratio:.2f}x faster" if ratio >= 1 else f"signoff {1 / ratio:.2f}x slower")
        print(f"{e.name:<52} {fmt(med):>13} {fmt(lo):>13} {fmt(hi):>13}  {rel}")
        if e.note:
            print(f"{'':<4}({e.note})")
        out[e.name] = {"median": med, "min": min(s), "max": max(s)}
    peers = [e for e in engines[1:]]
    if peers:
        fastest = min(peers, key=lambda e: statistics.median(samples[e.name]))
        fm = statistics.median(samples[fastest.name])
        print(f"signoff vs the fastest peer ({fastest.name}): {fm / base:.2f}x")
    s = samples[base_name]
    print(f"signoff steadiness: slowest round / fastest round = {max(s) / min(s):.2f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--round-seconds", type=float, default=0.25)
    ap.add_argument("--only", default="evaluate,trail,durable")
    ap.add_argument("--threads", type=int, default=16)
    opts = ap.parse_args()
    only = set(opts.only.split(","))

    import signoff
    size = native_size()
    print(f"python {sys.version.split()[0]}; signoff {signoff_version()} ({signoff.__file__}, native module {size / 2**20:.1f} MiB)")
    if size > 60 * 2**20:
        print("warning: the native module looks like a debug build; build a release wheel (see the docstring)")
    for dist in ("air-gate", "tollgate", "pycasbin", "cedarpy"):
        try:
            print(f"  {dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            print(f"  {dist}: not installed")
    print(f"{opts.rounds} rounds, engines alternating; each engine's round about {opts.round_seconds} s")

    folder = pathlib.Path(tempfile.mkdtemp(prefix="signoff-peers-"))
    closers: List[Callable[[], None]] = []
    try:
        if "evaluate" in only:
            engines, missing = make_evaluate_engines()
            for e in engines:
                e.check()
            bare = Engine("bare", lambda: None, lambda: None)
            base = statistics.median(run_rounds([bare], 3, 0.1)["bare"])
            report("evaluate: one decision, no trail", engines, run_rounds(engines, opts.rounds, opts.round_seconds), baseline=base)
            for m in missing:
                print(f"not measured: {m}")

        if "trail" in only:
            engines, missing, more = make_trail_engines(folder)
            closers += more
            for e in engines:
                e.check()
            report("require+complete with an os-buffered JSONL trail (or each peer's closest call)",
                   engines, run_rounds(engines, opts.rounds, opts.round_seconds))
            for m in missing:
                print(f"not measured: {m}")

        if "durable" in only:
            for threads in (1, opts.threads):
                engines, missing, more = make_durable_engines(folder, threads)
                closers += more
                for e in engines:
                    e.check()
                report(f"durable: signoff's default (group commit) vs air-gate SQLite, {threads} thread(s), decisions/s",
                       engines, run_rounds(engines, opts.rounds, max(opts.round_seconds, 0.5), threads), rate=True)
                for m in missing:
                    print(f"not measured: {m}")
    finally:
        for close in closers:
            close()
        shutil.rmtree(folder, ignore_errors=True)
        if _TOLLGATE:
            shutil.rmtree(_TOLLGATE["folder"], ignore_errors=True)


if __name__ == "__main__":
    main()
