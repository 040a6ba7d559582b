"""The client against the protocol's own files, without a daemon: every op has a method,
every request member a parameter, every error code a class, and the socket is found
where the CLI finds it."""

from __future__ import annotations

import inspect
import json
import pickle
from typing import Set, Tuple

import pytest
from conftest import REPO

import docket_client
from docket_client import AsyncClient, Client, DocketError, StaleVersion, WatchOverflow, default_socket_path
from docket_client._ops import OPS
from docket_client.errors import _BY_CODE, error_from_answer

SCHEMAS = REPO / "protocol" / "schemas"


def schema_ops() -> set:
    return {path.name[: -len(".request.json")] for path in SCHEMAS.glob("*.request.json")}


def test_the_schemas_name_ops() -> None:
    assert {"enqueue", "claim", "watch", "queue_put", "queue_get", "queue_list"} <= schema_ops()
    assert {"snooze", "log", "metrics"} <= schema_ops()  # the second round's ops have theirs too


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_every_op_in_the_schemas_has_a_method(cls: type) -> None:
    missing = sorted(op for op in schema_ops() if not callable(getattr(cls, op, None)))
    assert not missing, "%s has no method for: %s" % (cls.__name__, ", ".join(missing))
    # ... and the client knows no op the protocol does not describe.
    assert set(OPS) == schema_ops()


def request_members(op: str) -> Tuple[Set[str], Set[str]]:
    """The members an op's request schema names and those it requires, with the forms it
    keeps apart (enqueue's single job in $defs, its jobs array under "then")."""
    schema = json.loads((SCHEMAS / ("%s.request.json" % op)).read_text(encoding="utf-8"))
    parts = [schema, schema.get("then", {}), *schema.get("$defs", {}).values()]
    members = set().union(*(part.get("properties", {}) for part in parts))
    required = set().union(*(part.get("required", []) for part in parts))
    return members - {"op", "id"}, required - {"op"}


#: Request members that reach the client through a parameter of another name, or through
#: another method: (op, member) -> (method, parameter).
ELSEWHERE = {
    ("claim", "queue"): ("claim", "queue_or_queues"),
    ("claim", "queues"): ("claim", "queue_or_queues"),
    ("log", "data"): ("log", "text"),
    ("enqueue", "jobs"): ("enqueue_many", "jobs"),
    ("enqueue", "after_index"): ("enqueue_many", "jobs"),  # a member of each item
}


def parameter_for(op: str, member: str, required: Set[str]) -> Tuple[str, str]:
    if member == "version" and "job" in required:
        return (op, "job")  # a fenced op takes the Job, which carries its version
    return ELSEWHERE.get((op, member), (op, member))


@pytest.mark.parametrize("op", sorted(schema_ops()))
def test_every_request_member_is_a_parameter(op: str) -> None:
    """Required members are positional, the rest have defaults, so a member added to a
    schema later cannot go missing from the client."""
    members, required = request_members(op)
    for member in sorted(members):
        method, name = parameter_for(op, member, required)
        parameters = inspect.signature(getattr(Client, method)).parameters
        assert name in parameters, "Client.%s has no parameter for %s's %r" % (method, op, member)
        parameter = parameters[name]
        if (method, name) != (op, member):
            continue  # carried another way (claim's queue or queues: one of them is needed)
        if member in required:
            assert parameter.default is parameter.empty, "%s's %r is required" % (op, member)
            assert parameter.kind is parameter.POSITIONAL_OR_KEYWORD, "%s's %r is positional" % (op, member)
        else:
            assert parameter.default is not parameter.empty, "%s's %r is optional" % (op, member)


@pytest.mark.parametrize("op", sorted(schema_ops()))
def test_every_parameter_is_a_request_member(op: str) -> None:
    # The daemon ignores members it does not know, so a misspelt one would be dropped silently.
    members, required = request_members(op)
    carried = {parameter_for(op, member, required) for member in members}
    for name, parameter in inspect.signature(getattr(Client, op)).parameters.items():
        if name != "self" and parameter.kind is not parameter.VAR_KEYWORD:
            assert (op, name) in carried, "Client.%s(%s) is no member of the %s request" % (op, name, op)


def test_async_methods_are_coroutines() -> None:
    for op in OPS:
        method = getattr(AsyncClient, op)
        assert inspect.iscoroutinefunction(method) == (op != "watch"), op


def test_both_clients_take_the_same_arguments() -> None:
    for op in OPS:
        sync, coro = inspect.signature(getattr(Client, op)), inspect.signature(getattr(AsyncClient, op))
        assert list(sync.parameters) == list(coro.parameters), op


def test_every_error_code_has_a_class() -> None:
    schema = json.loads((SCHEMAS / "error.json").read_text(encoding="utf-8"))
    codes = set(schema["properties"]["code"]["enum"])
    assert {"bad_request", "stale_version", "watch_overflow", "unavailable", "in_doubt"} <= codes
    assert set(_BY_CODE) == codes, "a class for a code the protocol does not have"
    for code in codes:
        error = error_from_answer({"ok": False, "error": {"code": code, "message": "m"}})
        assert type(error) is not DocketError, "no class for %s" % code
        assert error.code == code and error.message == "m" and isinstance(error, DocketError)


def test_unknown_codes_are_plain_docket_errors() -> None:
    error = error_from_answer({"ok": False, "error": {"code": "brand_new", "message": "later"}})
    assert type(error) is DocketError and error.code == "brand_new" and str(error) == "brand_new: later"


def test_errors_carry_the_job_and_survive_pickling() -> None:
    answer = {
        "ok": False,
        "error": {
            "code": "stale_version",
            "message": "m",
            "job": {"id": 4, "version": 5, "state": "cancelled"},
        },
    }
    error = error_from_answer(answer, "complete")
    assert isinstance(error, StaleVersion) and error.job is not None and error.job.ref == (4, 5)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, StaleVersion) and copy.raw == error.raw and copy.op == "complete"
    overflow = error_from_answer({"ok": False, "error": {"code": "watch_overflow", "message": "m", "seq": 9}})
    assert isinstance(overflow, WatchOverflow) and overflow.seq == 9


def test_the_socket_is_found_as_the_cli_finds_it() -> None:
    assert default_socket_path({"DOCKET_SOCKET": "/x.sock", "XDG_RUNTIME_DIR": "/r"}, 1000) == "/x.sock"
    assert default_socket_path({"DOCKET_SOCKET": "", "XDG_RUNTIME_DIR": "/r"}, 1000) == "/r/docket.sock"
    assert default_socket_path({"RUNTIME_DIRECTORY": "/run/a:/run/b"}, 1000) == "/run/a/docket.sock"
    assert default_socket_path({"XDG_RUNTIME_DIR": "/r"}, 0) == "/run/docket/docket.sock"
    assert default_socket_path({}, 1000) == "/tmp/docket-1000/docket.sock"


def test_the_client_uses_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKET_SOCKET", "/tmp/elsewhere.sock")
    assert Client().socket_path == "/tmp/elsewhere.sock"
    assert AsyncClient().socket_path == "/tmp/elsewhere.sock"
    assert Client("/a.sock").socket_path == "/a.sock"


def test_the_package_is_typed() -> None:
    assert (REPO / "contrib" / "python" / "src" / "docket_client" / "py.typed").exists()
    assert docket_client.PROTOCOL == 1
