"""Label selectors (equality and set-based) and field selectors."""

from __future__ import annotations

import pytest

from kubelite.api import LabelSelector, LabelSelectorRequirement
from kubelite.api.errors import BadRequest
from kubelite.api.selectors import (
    label_matcher,
    parse_field_selector,
    parse_label_selector,
    selector_from_labels,
)

WEB = {"app": "web", "tier": "frontend", "env": "prod"}
DB = {"app": "db", "tier": "backend"}


@pytest.mark.parametrize("text,web,db", [
    ("", True, True),
    ("app=web", True, False),
    ("app==web", True, False),
    ("app!=web", False, True),
    ("env!=prod", False, True),  # != matches objects without the key
    ("env in (prod, staging)", True, False),
    ("env notin (prod)", False, True),  # notin matches objects without the key
    ("env", True, False),
    ("!env", False, True),
    ("app in (web,db),tier!=backend", True, False),
    ("  app = web , tier  ", True, False),
    ("app=", False, False),
])
def test_label_selector_semantics(text: str, web: bool, db: bool) -> None:
    m = parse_label_selector(text)
    assert m.matches(WEB) is web
    assert m.matches(DB) is db


def test_gt_lt() -> None:
    assert parse_label_selector("gen>3").matches({"gen": "4"})
    assert not parse_label_selector("gen>3").matches({"gen": "3"})
    assert parse_label_selector("gen<3").matches({"gen": "-1"})
    assert not parse_label_selector("gen<3").matches({})


def test_canonical_text_is_sorted_and_reparses() -> None:
    m = parse_label_selector("tier!=db, env in (b, a), !x, app==web, y")
    assert str(m) == "app=web,env in (a,b),tier!=db,!x,y"
    assert parse_label_selector(str(m)) == m
    assert str(parse_label_selector("b=1,a=2")) == "a=2,b=1"
    assert str(parse_label_selector("env notin (z,y)")) == "env notin (y,z)"


@pytest.mark.parametrize("text,needle", [
    ("app=web,", "trailing ','"),
    ("app in (a", "missing ')'"),
    ("app in a", "expected '('"),
    ("=web", "expected a key"),
    ("app web", "expected"),
    ("app in ()", "at least one value"),
    ("bad key!=x", "expected"),
    ("-bad=x", "key \"-bad\""),
    ("app=has space", "expected ','"),
    ("app=" + "v" * 64, "63"),
    ("gen>x", "integer"),
    ("!", "expected a key"),
])
def test_bad_label_selectors_raise_bad_request(text: str, needle: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_label_selector(text)
    assert needle in str(info.value)
    assert info.value.code == 400


def test_label_matcher_from_label_selector() -> None:
    sel = LabelSelector(match_labels={"app": "web"}, match_expressions=[
        LabelSelectorRequirement(key="env", operator="In", values=["prod", "qa"]),
        LabelSelectorRequirement(key="canary", operator="DoesNotExist"),
        LabelSelectorRequirement(key="tier", operator="Exists"),
        LabelSelectorRequirement(key="zone", operator="NotIn", values=["z9"]),
    ])
    m = label_matcher(sel)
    assert m.matches(WEB)
    assert not m.matches({**WEB, "canary": "yes"})
    assert not m.matches(DB)
    assert str(m) == "app=web,!canary,env in (prod,qa),tier,zone notin (z9)"
    assert parse_label_selector(str(m)) == m


def test_nil_selector_matches_nothing_and_empty_selector_everything() -> None:
    nothing = label_matcher(None)
    assert not nothing.matches({}) and not nothing.matches(WEB)
    assert nothing.matches_nothing and not nothing.empty
    everything = label_matcher(LabelSelector())
    assert everything.matches({}) and everything.matches(WEB) and everything.empty
    assert str(everything) == ""
    assert selector_from_labels({"app": "web"}).matches(WEB)


def test_bad_label_selector_operators() -> None:
    with pytest.raises(BadRequest, match="not a valid label selector operator"):
        label_matcher(LabelSelector(match_expressions=[LabelSelectorRequirement(key="a", operator="Equals")]))
    with pytest.raises(BadRequest, match="non-empty"):
        label_matcher(LabelSelector(match_expressions=[LabelSelectorRequirement(key="a", operator="In")]))
    with pytest.raises(BadRequest, match="must be empty"):
        label_matcher(LabelSelector(match_expressions=[
            LabelSelectorRequirement(key="a", operator="Exists", values=["x"])]))


POD = {"metadata": {"name": "p1", "namespace": "default"},
       "spec": {"nodeName": "n1", "hostNetwork": True, "containers": [{"name": "c"}]},
       "status": {"phase": "Running"}}


@pytest.mark.parametrize("text,expected", [
    ("", True),
    ("spec.nodeName=n1", True),
    ("spec.nodeName==n1", True),
    ("spec.nodeName!=n1", False),
    ("spec.nodeName=n2", False),
    ("spec.schedulerName=", True),  # missing field == ""
    ("spec.schedulerName!=", False),
    ("metadata.name=p1,metadata.namespace=default", True),
    ("status.phase!=Failed,status.phase!=Succeeded", True),
    ("spec.hostNetwork=true", True),
    ("spec.containers=", True),  # lists are not comparable: ""
    ("metadata.name = p1", True),
])
def test_field_selector(text: str, expected: bool) -> None:
    assert parse_field_selector(text).matches(POD) is expected


def test_field_selector_escaping_exact_and_text() -> None:
    m = parse_field_selector(r"metadata.name=a\,b,spec.nodeName=n1")
    assert m.matches({"metadata": {"name": "a,b"}, "spec": {"nodeName": "n1"}})
    assert m.exact("spec.nodeName") == "n1" and m.exact("status.phase") is None
    assert parse_field_selector(str(m)) == m
    assert parse_field_selector("").empty


@pytest.mark.parametrize("text", ["spec.nodeName", "=x", "spec..x=1", "a=1,,b=2", "spec.nodeName~n1"])
def test_bad_field_selectors(text: str) -> None:
    with pytest.raises(BadRequest, match="invalid field selector"):
        parse_field_selector(text)
