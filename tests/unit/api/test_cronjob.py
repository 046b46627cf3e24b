"""CronJob kind: cron parsing, defaults, validation, registry; StatefulSet claim-template validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kubelite.api import StatefulSet, defaults, registry, validation
from kubelite.api.batch import CronJob
from kubelite.api.cron import CronError, parse_schedule, schedule_error


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc,arg-type]


@pytest.mark.parametrize(("text", "after", "expected"), [
    ("*/15 * * * *", at(2026, 1, 1, 10, 7), at(2026, 1, 1, 10, 15)),
    ("0 * * * *", at(2026, 1, 1, 10, 0), at(2026, 1, 1, 11, 0)),
    ("@hourly", at(2026, 1, 1, 10, 0, 30), at(2026, 1, 1, 11, 0)),
    ("@daily", at(2026, 1, 1, 10, 0), at(2026, 1, 2, 0, 0)),
    ("@weekly", at(2026, 1, 1, 0, 0), at(2026, 1, 4, 0, 0)),  # 2026-01-04 is a Sunday
    ("@monthly", at(2026, 1, 15), at(2026, 2, 1)),
    ("@yearly", at(2026, 3, 1), at(2027, 1, 1)),
    ("30 9 * * MON-FRI", at(2026, 1, 3, 12, 0), at(2026, 1, 5, 9, 30)),  # Saturday -> Monday
    ("0 0 * * 7", at(2026, 1, 1), at(2026, 1, 4)),  # 7 is Sunday too
    ("0 0 29 2 *", at(2026, 1, 1), at(2028, 2, 29)),
    ("0 12 1 JAN,jul *", at(2026, 2, 1), at(2026, 7, 1, 12, 0)),
    ("5-10/5 1 * * *", at(2026, 1, 1, 1, 6), at(2026, 1, 1, 1, 10)),
    ("7/20 * * * *", at(2026, 1, 1, 1, 28), at(2026, 1, 1, 1, 47)),
])
def test_next_after(text: str, after: datetime, expected: datetime) -> None:
    assert parse_schedule(text).next_after(after) == expected


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    # the 13th OR any Friday (cron's rule); 2026-02-06 is a Friday, before the 13th
    assert parse_schedule("0 0 13 * FRI").next_after(at(2026, 2, 1)) == at(2026, 2, 6)
    # with day-of-week '*', only the 13th counts
    assert parse_schedule("0 0 13 * *").next_after(at(2026, 2, 1)) == at(2026, 2, 13)


def test_time_zone_is_wall_clock_of_the_zone() -> None:
    ny = ZoneInfo("America/New_York")
    assert parse_schedule("0 9 * * *").next_after(at(2026, 1, 1, 12, 0), ny) == at(2026, 1, 1, 14, 0)


def test_impossible_schedule_has_no_next_time() -> None:
    assert parse_schedule("0 0 31 2 *").next_after(at(2026, 1, 1)) is None


@pytest.mark.parametrize(("text", "fragment"), [
    ("* * * *", "exactly 5 fields"),
    ("60 * * * *", "minute value 60 out of range"),
    ("* 24 * * *", "hour"),
    ("* * 0 * *", "day of month"),
    ("* * * 13 *", "month"),
    ("* * * * 8", "day of week"),
    ("*/0 * * * *", "invalid step"),
    ("5-1 * * * *", "backwards"),
    ("@every 5m", "unrecognized descriptor"),
    ("x * * * *", "invalid minute value"),
])
def test_bad_schedules(text: str, fragment: str) -> None:
    with pytest.raises(CronError, match=fragment):
        parse_schedule(text)
    assert fragment in (schedule_error(text) or "")


def cron_dict(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schedule": "*/5 * * * *",
        "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}},
    }
    body.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"}, "spec": body}


def test_registry_defaults_and_valid_cronjob() -> None:
    info = registry.lookup("cj")
    assert (info.kind, info.resource, info.api_version, info.namespaced) == ("CronJob", "cronjobs", "batch/v1", True)
    cj = registry.decode(cron_dict())
    assert isinstance(cj, CronJob)
    defaults.apply_defaults(cj)
    assert cj.spec.concurrency_policy == "Allow" and cj.spec.suspend is False
    assert (cj.spec.successful_jobs_history_limit, cj.spec.failed_jobs_history_limit) == (3, 1)
    job_spec = cj.spec.job_template.spec
    assert (job_spec.backoff_limit, job_spec.completions, job_spec.parallelism) == (6, 1, 1)
    assert validation.validate(cj) == []
    assert CronJob.from_dict(cj.to_dict()).to_dict() == cj.to_dict()


def test_invalid_cronjob_names_each_field() -> None:
    body = cron_dict(schedule="61 * * * *", concurrencyPolicy="Sometimes", startingDeadlineSeconds=-1,
                     timeZone="Mars/Olympus")
    body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    cj = registry.decode(body)
    defaults.apply_defaults(cj)
    fields = {c.field for c in validation.validate(cj)}
    assert {"spec.schedule", "spec.concurrencyPolicy", "spec.startingDeadlineSeconds", "spec.timeZone",
            "spec.jobTemplate.spec.template.spec.restartPolicy"} <= fields
    missing = registry.decode(cron_dict(schedule=""))
    assert "spec.schedule" in {c.field for c in validation.validate(missing)}


def test_statefulset_template_may_mount_its_claim_templates() -> None:
    sts = StatefulSet.from_dict({
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "serviceName": "web",
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                     {"name": "c", "image": "busybox", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]},
    })
    defaults.apply_defaults(sts)
    assert validation.validate(sts) == []
    sts.spec.volume_claim_templates = [{"spec": {}}]
    sts.spec.pod_management_policy = "Random"
    fields = {c.field for c in validation.validate(sts)}
    assert "spec.volumeClaimTemplates[0].metadata.name" in fields and "spec.podManagementPolicy" in fields
