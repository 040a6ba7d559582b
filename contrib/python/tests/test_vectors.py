"""``protocol/vectors.jsonl`` replayed through the client, judged as the Swift end-to-end
test (``Tests/DocketEndToEndTests/VectorEndToEndTests.swift``) judges them: every vector
in order, on one connection, to a fresh daemon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

from conftest import REPO, Daemon

from docket_client import Client

VECTORS = REPO / "protocol" / "vectors.jsonl"
MISSING = object()


def load_vectors(path: Path = VECTORS) -> List[Dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()]


def same_value(a: Any, b: Any) -> bool:
    """JSON equality with numbers compared by value (1.5 is 1.50) and booleans never
    equal to numbers, as in ``JSONValue.sameValue``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(k in b and same_value(v, b[k]) for k, v in a.items())
    return type(a) is type(b) and a == b


def at(value: Any, path: str) -> Any:
    """The value at a dotted path (object keys, array indexes), or MISSING; a JSON null
    that is there is ``None``, not MISSING, as ``present`` needs."""
    current = value
    for part in (p for p in path.split(".") if p):
        if isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if 0 <= index < len(current) else MISSING
        elif isinstance(current, dict):
            current = current.get(part, MISSING)
        else:
            current = MISSING
        if current is MISSING:
            return MISSING
    return current


def send(client: Client, vector: Dict[str, Any]) -> Dict[str, Any]:
    if "send" in vector:
        return client.request(vector["send"])
    if "send_raw" in vector:
        return client.request_line(vector["send_raw"].encode("utf-8"))
    if "send_hex" in vector:
        return client.request_line(bytes.fromhex(vector["send_hex"]))
    raise AssertionError("vector %r has nothing to send" % vector.get("name"))


def check(vector: Dict[str, Any], answer: Dict[str, Any]) -> List[str]:
    """Every way the answer differs from the vector's expectation."""
    name, expect = vector.get("name", "?"), vector.get("expect") or {}
    line = json.dumps(answer, ensure_ascii=False)
    problems = []
    if answer.get("ok", MISSING) != expect.get("ok", MISSING):
        problems.append("%s: ok in %s" % (name, line))
    if "code" in expect and not same_value(at(answer, "error.code"), expect["code"]):
        problems.append("%s: error.code in %s" % (name, line))
    for path, wanted in (expect.get("fields") or {}).items():
        found = at(answer, path)
        if found is MISSING or not same_value(found, wanted):
            problems.append("%s: %s is %r, not %r, in %s" % (name, path, found, wanted, line))
    for path in expect.get("present") or []:
        if at(answer, path) is MISSING:
            problems.append("%s: %s missing in %s" % (name, path, line))
    for path in expect.get("absent") or []:
        if at(answer, path) is not MISSING:
            problems.append("%s: %s present in %s" % (name, path, line))
    return problems


def test_vectors_match_the_daemon(daemon: Daemon) -> None:
    vectors = load_vectors()
    assert len(vectors) >= 50
    problems: List[str] = []
    with Client(daemon.socket) as client:
        for vector in vectors:
            problems += check(vector, send(client, vector))
    assert not problems, "\n".join(problems)


def test_the_checker_catches_differences() -> None:
    # The replay is only as good as its judge: make sure it can fail.
    vector = {
        "name": "v",
        "expect": {"ok": True, "fields": {"job.id": 1, "n": 1.5}, "present": ["x"], "absent": ["y"]},
    }
    assert check(vector, {"ok": True, "job": {"id": 1}, "n": 1.50, "x": None}) == []
    assert len(check(vector, {"ok": False, "job": {"id": True}, "n": 1.5, "y": 0})) == 4
    assert same_value({"a": [1, None]}, {"a": [1.0, None]})
    assert not same_value(True, 1) and not same_value({"a": 1}, {"a": 1, "b": 2})
