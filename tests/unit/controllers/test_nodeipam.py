"""The podCIDR allocator of the node-IPAM controller (pure)."""

from __future__ import annotations

import pytest

from controllers.nodeipam.controller import CidrAllocator, CidrExhausted


def test_allocates_distinct_24s_skipping_the_first() -> None:
    a = CidrAllocator()
    got = [a.allocate() for _ in range(3)]
    assert got == ["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]
    assert a.size == 255


def test_existing_ranges_are_never_handed_out_again() -> None:
    a = CidrAllocator()
    assert a.occupy("10.244.1.0/24") and a.occupy("10.244.3.0/24")
    assert a.allocate() == "10.244.2.0/24"
    assert a.allocate() == "10.244.4.0/24"
    a.release("10.244.1.0/24")
    assert a.allocate() == "10.244.1.0/24"


def test_foreign_ranges_are_ignored() -> None:
    a = CidrAllocator()
    assert not a.occupy("192.168.0.0/24")
    assert not a.occupy("10.244.1.0/25")
    assert not a.occupy("not-a-cidr")
    assert a.used() == []


def test_exhaustion_is_a_clear_error() -> None:
    a = CidrAllocator("10.1.0.0/28", 30)
    assert [a.allocate() for _ in range(3)] == ["10.1.0.4/30", "10.1.0.8/30", "10.1.0.12/30"]
    with pytest.raises(CidrExhausted, match="no free /30 left in 10.1.0.0/28"):
        a.allocate()
    with pytest.raises(ValueError):
        CidrAllocator("10.0.0.0/24", 16)
