"""The LoadBalancer address pool and which node announces an address (pure parts of servicelb)."""

from __future__ import annotations

import pytest

from controllers.servicelb.pool import PoolError, default_pool, parse_pool, pick
from kubelite.proxy.lbaddrs import owned_here


def test_default_pool_is_the_top_of_the_bridge_subnet() -> None:
    assert default_pool("10.88.7.1", 24) == "10.88.7.240/28"
    assert parse_pool("10.88.7.240/28")[0] == "10.88.7.241" and len(parse_pool("10.88.7.240/28")) == 14


def test_bad_pool_names_the_flag() -> None:
    with pytest.raises(PoolError, match="--lb-pool"):
        parse_pool("10.88.7.300/28")


def test_pick_lowest_free_or_the_wanted_one() -> None:
    pool = parse_pool("10.0.0.0/30")  # .1 and .2
    assert pick(pool, ["10.0.0.1"]) == "10.0.0.2"
    assert pick(pool, ["10.0.0.1", "10.0.0.2"]) is None
    assert pick(pool, [], "10.0.0.2") == "10.0.0.2"
    assert pick(pool, ["10.0.0.2"], "10.0.0.2") is None
    assert pick(pool, [], "10.9.9.9") is None


def test_each_address_is_announced_by_exactly_one_ready_node() -> None:
    nodes = ["node-1", "node-2", "node-3"]
    ips = [f"10.88.7.{i}" for i in range(241, 255)]
    owners = [owned_here(ips, nodes, n) for n in nodes]
    assert set().union(*owners) == set(ips)
    assert sum(len(o) for o in owners) == len(ips)
    assert owned_here(ips, [], "node-1") == set()
