#!/usr/bin/env python3
"""Checks protocol/ against itself: schemas, examples, README examples and test vectors.

    python3 protocol/check.py          (needs: pip install jsonschema)

What is checked:
  1. every file in schemas/ is a valid JSON Schema (draft 2020-12) and every $ref resolves;
  2. every file in examples/ validates against its schema: <op>[.<variant>].request.json against
     schemas/<op>.request.json, <op>[.<variant>].response.json against schemas/<op>.response.json,
     event-line.json against schemas/event-line.json,
     error.<code>[.<variant>].response.json against schemas/error-response.json (with that
     code); error.<code>[.<variant>].request.json is the request that caused it, so it must
     be refused by the schema for bad_request, must name an op without a schema for
     unknown_op, and must validate for every other code (not_found, stale_version,
     invalid_state, forbidden, internal, unavailable, in_doubt: the request was well formed);
  3. every op has a request and a response example, there is an event line example, and
     every example appears as a ```json block of README.md (compared as JSON values);
  4. every line of vectors.jsonl is well formed, and every vector whose request is sent
     as an object (or as raw text that parses) and expects ok true matches its op's
     request schema; a bad_request vector sent as an object must be refused by the
     schema too, unless its rule is one JSON Schema cannot state (listed below);
     an unknown_op vector must name an op that has no schema; no vector may close the
     connection (too_large, watch_overflow); and since a successful watch makes event
     lines interleave with the answers that follow, a successful watch with since must
     be the last vector, and after any successful watch only refusals and ops that change
     nothing may follow.

It talks to no daemon: replaying the vectors is the job of the end-to-end tests.
Prints one line per failure and 'N passed, M failed' at the end; exits 1 on any failure.
"""

import json
import os
import re
import sys

try:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match
    from referencing import Registry, Resource
except ImportError:  # pragma: no cover
    sys.exit("check.py needs the jsonschema package: pip install jsonschema")

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "schemas")
EXAMPLES = os.path.join(HERE, "examples")
README = os.path.join(HERE, "README.md")
VECTORS = os.path.join(HERE, "vectors.jsonl")

OPS = ["hello", "ping", "enqueue", "claim", "progress", "complete", "fail", "cancel", "retry", "snooze", "log", "get",
       "list", "stats", "watch", "schedule_put", "schedule_get", "schedule_delete", "schedule_list", "purge", "backup",
       "queue_put", "queue_get", "queue_list", "metrics"]
CODES = ["bad_request", "unknown_op", "not_found", "stale_version", "invalid_state", "too_large", "forbidden",
         "shutting_down", "internal", "watch_overflow", "unavailable", "in_doubt"]
# Codes that close the connection: no vector may cause them.
CLOSING = ["too_large", "watch_overflow"]
# Ops that change nothing, so no event can follow them: allowed after a successful watch vector. (snooze and
# log are writes: a log line changes no version, but it is an event.)
READ_ONLY_OPS = ["hello", "ping", "get", "list", "stats", "watch", "schedule_get", "schedule_list", "queue_get",
                 "queue_list", "metrics"]

# bad_request vectors whose rule JSON Schema cannot express, so the schema accepts them:
# the daemon checks these and the README states them.
SCHEMA_CANNOT_TELL = {
    "backup: a path that exists is never overwritten (/ always exists): bad_request":
        "whether a file exists is a fact of the daemon's file system, not of the request",
    "enqueue with a 256-byte queue name of 2-byte characters (128 characters)":
        "limits are in bytes of UTF-8; maxLength counts characters",
    "enqueue with a run_at on a day that does not exist":
        "the pattern checks the shape of a time, not the calendar",
    "enqueue with backoff max_ms below initial_ms":
        "comparing two members is beyond JSON Schema",
    "watch: a second watch on the same connection is bad_request":
        "one watch per connection is a rule about the connection, not about the request",
    "schedules: minute 61 names the minute field":
        "the cron pattern checks for five fields; what is inside each field is checked by the daemon",
    "schedules: hour 24 names the hour field":
        "the cron pattern checks for five fields; what is inside each field is checked by the daemon",
    "schedules: day of month 0 names the day-of-month field":
        "the cron pattern checks for five fields; what is inside each field is checked by the daemon",
    "schedules: month 13 names the month field":
        "the cron pattern checks for five fields; what is inside each field is checked by the daemon",
    "schedules: day of week 8 names the day-of-week field":
        "the cron pattern checks for five fields; what is inside each field is checked by the daemon",
    "schedules: an unknown month name":
        "the cron pattern checks for five fields; what is inside each field is checked by the daemon",
    "schedules: a name in the minute field":
        "the cron pattern checks for five fields; what is inside each field is checked by the daemon",
    "schedules: a step of 0":
        "the cron pattern checks for five fields; what is inside each field is checked by the daemon",
    "schedules: a range that runs backwards":
        "the cron pattern checks for five fields; what is inside each field is checked by the daemon",
    "schedules: two steps":
        "the cron pattern checks for five fields; what is inside each field is checked by the daemon",
    "schedules: an empty list item":
        "the cron pattern checks for five fields; what is inside each field is checked by the daemon",
    "schedules: a day that never comes (February 30th)":
        "the cron pattern checks for five fields; what is inside each field is checked by the daemon",
    "batch: an item with backoff max_ms below initial_ms names the item":
        "comparing two members is beyond JSON Schema",
    "purge: a before on a day that does not exist":
        "the pattern checks the shape of a time, not the calendar",
    "queues: a 256-byte concurrency_key of 2-byte characters (128 characters)":
        "limits are in bytes of UTF-8; maxLength counts characters",
    "deps: after_index naming a later item is bad_request":
        "whether an index names an earlier item depends on the item's place in jobs, which a schema cannot compare with",
    "deps: after_index on the first item is bad_request":
        "whether an index names an earlier item depends on the item's place in jobs, which a schema cannot compare with",
    "trace: a tracestate of 33 members is bad_request":
        "the pattern checks the form of each tracestate member; counting them is beyond it",
}


class Checker:
    """Counts checked items (a schema, an example, a vector, …); an item passes when all its checks do."""

    def __init__(self):
        self.items = []
        self.failed_items = set()
        self.current = None

    def item(self, key):
        self.current = key
        self.items.append(key)

    def ok(self, condition, what):
        if not condition:
            print("FAIL", what)
            self.failed_items.add(self.current)
        return condition

    @property
    def passed(self):
        return len(self.items) - len(self.failed_items)

    @property
    def failed(self):
        return len(self.failed_items)


def load_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def same(a, b):
    """JSON equality that keeps true apart from 1 and false apart from 0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def first_error(validator, instance):
    """None when the instance is valid, else a short account of the most relevant error."""
    e = best_match(validator.iter_errors(instance))
    if e is None:
        return None
    while e.context:  # anyOf / oneOf: report the branch that came closest
        e = best_match(e.context)
    where = "/".join(str(p) for p in e.absolute_path) or "(top)"
    message = e.message if len(e.message) <= 200 else e.message[:200] + "…"
    return f"at {where}: {message}"


def main():
    c = Checker()

    # 1. schemas
    schemas = {}
    for name in sorted(os.listdir(SCHEMAS)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(SCHEMAS, name)
        c.item(f"schemas/{name}")
        try:
            schema = load_json(path)
            Draft202012Validator.check_schema(schema)
        except Exception as e:  # noqa: BLE001
            c.ok(False, f"schemas/{name}: not a valid schema: {e}")
            continue
        c.ok(schema.get("$id", "").endswith("/" + name), f"schemas/{name}: $id must end in /{name}")
        schemas[name] = schema
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values() if "$id" in s)

    validators = {}

    def validator(name):
        if name not in schemas:
            return None
        if name not in validators:
            validators[name] = Draft202012Validator(schemas[name], registry=registry)
        return validators[name]

    for name in schemas:  # resolves every $ref once
        c.item(f"schemas/{name} refs")
        try:
            v = validator(name)
            list(v.iter_errors({}))
            c.ok(True, name)
        except Exception as e:  # noqa: BLE001
            c.ok(False, f"schemas/{name}: a $ref does not resolve: {e}")
    c.item("a schema for every message")
    for op in OPS:
        c.ok(f"{op}.request.json" in schemas, f"schemas/{op}.request.json is missing")
        c.ok(f"{op}.response.json" in schemas, f"schemas/{op}.response.json is missing")
    for shared in ["defs.json", "job.json", "event.json", "event-line.json", "schedule.json", "queue.json", "error.json",
                   "error-response.json"]:
        c.ok(shared in schemas, f"schemas/{shared} is missing")

    # 2. examples
    examples = {}
    for name in sorted(os.listdir(EXAMPLES)):
        path = os.path.join(EXAMPLES, name)
        c.item(f"examples/{name}")
        try:
            value = load_json(path)
        except ValueError as e:
            c.ok(False, f"examples/{name}: not JSON: {e}")
            continue
        examples[name] = value
        if name == "event-line.json":
            problem = first_error(validator("event-line.json"), value)
            c.ok(problem is None, f"examples/{name} against schemas/event-line.json: {problem}")
            continue
        m = re.fullmatch(r"(?:(error)\.([a-z_]+)(?:\.[a-z_]+)?|([a-z_]+)(?:\.[a-z_]+)?)\.(request|response)\.json", name)
        if not c.ok(m is not None,
                    f"examples/{name}: name must be <op>[.<variant>].<request|response>.json or error.<code>[.<variant>].…"):
            continue
        is_error, key, kind = bool(m.group(1)), m.group(2) or m.group(3), m.group(4)
        if not is_error:
            v = validator(f"{key}.{kind}.json")
            if not c.ok(v is not None, f"examples/{name}: no schema {key}.{kind}.json"):
                continue
            problem = first_error(v, value)
            c.ok(problem is None, f"examples/{name} against schemas/{key}.{kind}.json: {problem}")
            if kind == "request":
                c.ok(value.get("op") == key, f"examples/{name}: op must be {key!r}")
            continue
        c.ok(key in CODES, f"examples/{name}: unknown error code {key!r}")
        if kind == "response":
            problem = first_error(validator("error-response.json"), value)
            c.ok(problem is None, f"examples/{name} against schemas/error-response.json: {problem}")
            c.ok(isinstance(value, dict) and value.get("error", {}).get("code") == key,
                 f"examples/{name}: error.code must be {key!r}")
            continue
        op = value.get("op") if isinstance(value, dict) else None
        v = validator(f"{op}.request.json") if isinstance(op, str) else None
        if key == "unknown_op":
            c.ok(v is None, f"examples/{name}: op {op!r} has a schema, so it is not unknown")
        elif key == "bad_request" and op == "backup":
            # Refused for the file system's state (the file exists), which no schema can see.
            c.ok(v is not None and first_error(v, value) is None, f"examples/{name}: a well-formed backup request")
        elif key == "bad_request":
            c.ok(v is not None and first_error(v, value) is not None,
                 f"examples/{name}: the {op} request schema should refuse this request")
        elif c.ok(v is not None, f"examples/{name}: no request schema for op {op!r}"):
            problem = first_error(v, value)
            c.ok(problem is None, f"examples/{name} against schemas/{op}.request.json: {problem}")
        c.ok(name.replace(".request.json", ".response.json") in os.listdir(EXAMPLES),
             f"examples/{name}: no matching response file")

    # 3. every op has examples, and the README shows each of them
    c.item("an example for every op")
    for op in OPS:
        for kind in ["request", "response"]:
            c.ok(f"{op}.{kind}.json" in examples, f"examples/{op}.{kind}.json is missing")
    c.ok("event-line.json" in examples, "examples/event-line.json is missing")
    with open(README, encoding="utf-8") as fh:
        readme = fh.read()
    blocks = []
    for block in re.findall(r"```json\n(.*?)```", readme, flags=re.S):
        try:
            blocks.append(json.loads(block))
        except ValueError:
            pass  # prose-like blocks (shapes with …) are not examples
    for name, value in sorted(examples.items()):
        c.item(f"README.md shows examples/{name}")
        c.ok(any(same(value, b) for b in blocks), f"README.md does not show examples/{name} in a ```json block")

    # 4. vectors
    count = 0
    with open(VECTORS, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    names = set()
    watching = None  # where the vectors' connection started a watch that succeeded
    for number, line in enumerate(lines, 1):
        where = f"vectors.jsonl:{number}"
        c.item(where)
        try:
            vec = json.loads(line)
        except ValueError as e:
            c.ok(False, f"{where}: not JSON: {e}")
            continue
        count += 1
        if not c.ok(isinstance(vec, dict), f"{where}: a vector must be an object"):
            continue
        name = vec.get("name")
        c.ok(isinstance(name, str) and name, f"{where}: name must be a non-empty string")
        c.ok(name not in names, f"{where}: duplicate name {name!r}")
        names.add(name)
        where = f"{where} ({name})"
        c.ok(set(vec) <= {"name", "send", "send_raw", "send_hex", "expect"}, f"{where}: unknown members {sorted(vec)}")
        senders = [k for k in ("send", "send_raw", "send_hex") if k in vec]
        if not c.ok(len(senders) == 1, f"{where}: needs exactly one of send, send_raw, send_hex"):
            continue
        expect = vec.get("expect")
        if not c.ok(isinstance(expect, dict) and isinstance(expect.get("ok"), bool), f"{where}: expect.ok must be a boolean"):
            continue
        c.ok(set(expect) <= {"ok", "code", "fields", "present", "absent"}, f"{where}: unknown members of expect")
        if expect["ok"]:
            c.ok("code" not in expect, f"{where}: code is only for ok false")
        else:
            c.ok(expect.get("code") in CODES, f"{where}: expect.code must be one of the error codes")
            c.ok(expect.get("code") not in CLOSING, f"{where}: {expect.get('code')} closes the connection; no vector may cause it")
        c.ok(isinstance(expect.get("fields", {}), dict), f"{where}: fields must be an object")
        for member in ("present", "absent"):
            paths = expect.get(member, [])
            c.ok(isinstance(paths, list) and all(isinstance(p, str) and p for p in paths),
                 f"{where}: {member} must be a list of dotted paths")

        request = None
        if "send" in vec:
            request = vec["send"]
            c.ok(isinstance(request, dict), f"{where}: send must be a JSON object (use send_raw for anything else)")
            c.ok("wait_ms" not in request or not expect["ok"], f"{where}: vectors must not wait (wait_ms)")
        elif "send_raw" in vec:
            raw = vec["send_raw"]
            if c.ok(isinstance(raw, str), f"{where}: send_raw must be a string"):
                if expect["ok"]:
                    try:
                        request = json.loads(raw)
                    except ValueError:
                        c.ok(False, f"{where}: expects ok true but send_raw is not JSON")
        else:
            hexs = vec["send_hex"]
            try:
                data = bytes.fromhex(hexs)
                try:
                    data.decode("utf-8")
                    c.ok(False, f"{where}: send_hex is valid UTF-8; use send_raw")
                except UnicodeDecodeError:
                    pass
            except (TypeError, ValueError):
                c.ok(False, f"{where}: send_hex must be a string of hex digits")

        op = request.get("op") if isinstance(request, dict) else None
        if watching is not None and expect["ok"]:
            c.ok(op in READ_ONLY_OPS and op != "watch",
                 f"{where}: after the successful watch of {watching}, a vector that succeeds must change nothing, "
                 "or event lines would interleave with the answers")
        if op == "watch" and expect["ok"]:
            if isinstance(request, dict) and request.get("since") is not None:
                c.ok(number == len(lines), f"{where}: a successful watch with since replays events; it must be the last vector")
            if watching is None:
                watching = where
        if not isinstance(request, dict):
            continue
        v = validator(f"{op}.request.json") if isinstance(op, str) else None
        code = expect.get("code")
        if expect["ok"]:
            if c.ok(v is not None, f"{where}: expects ok true but op {op!r} has no request schema"):
                problem = first_error(v, request)
                c.ok(problem is None, f"{where}: request does not match schemas/{op}.request.json {problem}")
        elif code == "unknown_op":
            c.ok(v is None, f"{where}: expects unknown_op but op {op!r} has a request schema")
        elif code == "bad_request" and v is not None and "send" in vec:
            refused = first_error(v, request) is not None
            if name in SCHEMA_CANNOT_TELL:
                c.ok(not refused, f"{where}: listed in SCHEMA_CANNOT_TELL but the schema refuses it; drop it from the list")
            else:
                c.ok(refused, f"{where}: the daemon refuses this request but schemas/{op}.request.json accepts it")
    c.item("vector count")
    c.ok(count >= 70, f"vectors.jsonl has {count} vectors; at least 70 are wanted")
    for name in SCHEMA_CANNOT_TELL:
        c.ok(name in names, f"SCHEMA_CANNOT_TELL names a vector that does not exist: {name!r}")

    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
