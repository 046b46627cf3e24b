"""kubectl's JSONPath dialect: golden outputs for the examples of kubectl's JSONPath reference page
(its sample List of two Pods/Nodes), custom-columns, and the error cases."""

from __future__ import annotations

import pytest

from kubectl import customcols
from kubectl.errors import CliError
from kubectl.jsonpath import JSONPathError, execute, parse
from kubectl.waitfor import parse_for

# The shape of kubectl's documented input: a List with two items.
DOC = {
    "kind": "List",
    "items": [
        {"kind": "None", "metadata": {"name": "127.0.0.1", "labels": {"kubernetes.io/hostname": "127.0.0.1"}},
         "status": {"capacity": {"cpu": "4"},
                    "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.1"}]}},
        {"kind": "None", "metadata": {"name": "127.0.0.2"},
         "status": {"capacity": {"cpu": "8"},
                    "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.2"},
                                  {"type": "another", "address": "127.0.0.3"}]}},
    ],
    "users": [{"name": "myself", "user": {}}, {"name": "e2e", "user": {"username": "admin", "password": "secret"}}],
}


@pytest.mark.parametrize(("template", "expected"), [
    ("{.kind}", "List"),
    ("{['kind']}", "List"),
    ("{..name}", "127.0.0.1 127.0.0.2 myself e2e"),
    ("{.items[*].metadata.name}", "127.0.0.1 127.0.0.2"),
    ("{.items[0].metadata.name}", "127.0.0.1"),
    ("{.items[-1:].metadata.name}", "127.0.0.2"),
    ("{.items[0:1].metadata.name}", "127.0.0.1"),
    ("{.users[?(@.name==\"e2e\")].user.password}", "secret"),
    ("{.items[*]['metadata.name', 'status.capacity']}", '127.0.0.1 127.0.0.2 {"cpu":"4"} {"cpu":"8"}'),
    ("{range .items[*]}[{.metadata.name}, {.status.capacity}] {end}",
     '[127.0.0.1, {"cpu":"4"}] [127.0.0.2, {"cpu":"8"}] '),
    ('{range .items[*]}{.metadata.name}{"\\t"}{.status.addresses[?(@.type=="LegacyHostIP")].address}{"\\n"}{end}',
     "127.0.0.1\t127.0.0.1\n127.0.0.2\t127.0.0.2\n"),
    ("{.items[*].status.addresses[*].address}", "127.0.0.1 127.0.0.2 127.0.0.3"),
    ("{.items[?(@.status.capacity.cpu)].metadata.name}", "127.0.0.1 127.0.0.2"),
    ("{.items[0].metadata.labels.kubernetes\\.io/hostname}", ""),
    ("{.items[0].metadata.missing}", ""),
    ("name: {.items[1].metadata.name}!", "name: 127.0.0.2!"),
    ("{.items[?(@.status.capacity.cpu==\"8\")].metadata.name}", "127.0.0.2"),
])
def test_documented_examples(template: str, expected: str) -> None:
    assert execute(template, DOC) == expected


@pytest.mark.parametrize("template", ["{.items[", "{range .items[*]}{.x}", "{end}", "{.a[?(@.x~1)]}", "{.a[x]}"])
def test_bad_templates_raise_a_clear_error(template: str) -> None:
    with pytest.raises(JSONPathError):
        parse(template)


def test_custom_columns_with_missing_values_and_lists() -> None:
    spec = "NAME:.metadata.name,CPU:.status.capacity.cpu,ADDR:.status.addresses[*].address,X:.nope"
    assert customcols.render(spec, DOC["items"]).splitlines() == [
        "NAME        CPU   ADDR                  X",
        "127.0.0.1   4     127.0.0.1             <none>",
        "127.0.0.2   8     127.0.0.2,127.0.0.3   <none>",
    ]
    with pytest.raises(CliError):
        customcols.parse_spec("NAME")
    assert customcols.render("CAP:.status.capacity,A:.status.addresses[0]", DOC["items"][:1], headers=False) == \
        "map[cpu:4]   map[address:127.0.0.1 type:LegacyHostIP]\n"


def test_wait_for_conditions() -> None:
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}], "phase": "Running"}}
    assert parse_for("condition=Ready").met(ready)
    assert parse_for("condition=ready=true").met(ready)
    assert not parse_for("condition=Ready=False").met(ready)
    assert parse_for("jsonpath={.status.phase}=Running").met(ready)
    assert parse_for("jsonpath='{.status.phase}'=Running").met(ready)
    assert not parse_for("jsonpath={.status.phase}=Pending").met(ready)
    assert parse_for("jsonpath={.status.phase}").met(ready)
    assert parse_for("delete").met(None) and not parse_for("delete").met(ready)
    with pytest.raises(CliError):
        parse_for("ready")
