"""Numeric fields are bounded like Kubernetes' int32/int64, refused at decoding naming the field."""

from __future__ import annotations

import pytest

from kubelite.api import registry
from kubelite.api.errors import Invalid


def decode(kind: str, api_version: str, spec: dict[str, object]) -> object:
    return registry.decode({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "spec": spec})


@pytest.mark.parametrize(("value", "shown"), [(2**31, "2147483648"), (1e12, "1000000000000"),
                                              (2**63, "9223372036854775808")])
def test_replicas_over_int32_is_invalid_naming_the_field(value: object, shown: str) -> None:
    with pytest.raises(Invalid) as err:
        decode("Deployment", "apps/v1", {"replicas": value})
    assert str(err.value) == (f'Deployment.apps "x" is invalid: spec.replicas: Invalid value: {shown}: '
                              "must be less than or equal to 2147483647")


def test_lower_bound_and_other_int32_fields() -> None:
    with pytest.raises(Invalid, match="spec.replicas: Invalid value: -2147483649: must be greater than or equal to"):
        decode("ReplicaSet", "apps/v1", {"replicas": -(2**31) - 1})
    with pytest.raises(Invalid, match=r"spec.backoffLimit: Invalid value: 4294967296"):
        decode("Job", "batch/v1", {"backoffLimit": 2**32})
    with pytest.raises(Invalid, match=r"spec.containers\[0\].ports\[0\].containerPort"):
        decode("Pod", "v1", {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 2**40}]}]})


def test_int64_fields_take_values_beyond_int32_but_not_beyond_int64() -> None:
    pod = decode("Pod", "v1", {"terminationGracePeriodSeconds": 2**40,
                               "containers": [{"name": "c", "image": "x"}]})
    assert pod.spec.termination_grace_period_seconds == 2**40  # type: ignore[attr-defined]
    with pytest.raises(Invalid, match="spec.terminationGracePeriodSeconds: Invalid value: 9223372036854775808: "
                                      "must be less than or equal to 9223372036854775807"):
        decode("Pod", "v1", {"terminationGracePeriodSeconds": 2**63, "containers": [{"name": "c", "image": "x"}]})


def test_int_or_string_fields_bound_their_number() -> None:
    with pytest.raises(Invalid, match=r"spec.strategy.rollingUpdate.maxSurge: Invalid value: 1099511627776: "
                                      "must be less than or equal to 2147483647"):
        decode("Deployment", "apps/v1", {"strategy": {"rollingUpdate": {"maxSurge": 2**40}}})
    ok = decode("Deployment", "apps/v1", {"strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 3}}})
    assert ok.spec.strategy.rolling_update.max_unavailable == 3  # type: ignore[attr-defined]
