"""How kctl reports failures: one clear line, kubectl's wording, never a traceback.

Why a dedicated exception: commands deep in the call stack (manifest loading,
argument parsing, waiting for deletion) must stop with a user-facing message and
exit code 1; raising `CliError` lets `kubectl.main` be the only place that
prints and decides the exit status.
"""

from __future__ import annotations

import sys

from kubelite.api.errors import ApiError, ServiceUnavailable, Timeout


class CliError(Exception):
    """A user error: printed as `error: <message>` (each line of `lines` on its own), exit 1."""

    def __init__(self, message: str, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.lines = lines if lines is not None else [f"error: {message}"]


class ReportedFailure(Exception):
    """Errors were already printed (e.g. one object of many failed); just exit 1."""


def is_unreachable(err: ApiError, server: str) -> bool:
    """True when the client could not talk to the apiserver at all (not an error the server sent)."""
    if isinstance(err, ServiceUnavailable):
        return err.message.startswith(("apiserver unreachable at", "client for apiserver"))
    return isinstance(err, Timeout) and f"apiserver at {server}" in err.message


def unreachable_message(server: str, err: ApiError) -> str:
    if isinstance(err, Timeout):
        return (f"error: the kubelite apiserver at {server} did not answer in time ({err.message}); "
                "is the cluster up? try `kubelite status`, or raise --request-timeout")
    detail = err.message
    prefix = f"apiserver unreachable at {server}"
    if detail.startswith(prefix):
        detail = detail[len(prefix):].lstrip(": ") or "connection failed"
    return (f"error: cannot reach the kubelite apiserver at {server}: {detail} "
            "(is the cluster up? try `kubelite up`)")


def format_api_error(err: ApiError) -> str:
    """`Error from server (NotFound): deployments.apps "x" not found`, like kubectl."""
    message = err.message
    if err.causes and not any(c.message in message for c in err.causes):
        message += "".join(f"\n* {c}" for c in err.causes)
    return f"Error from server ({err.reason or 'Unknown'}): {message}"


def report(err: ApiError, server: str) -> None:
    """Print a per-object server error and carry on; an unreachable server stops the command."""
    if is_unreachable(err, server):
        raise err
    sys.stderr.write(format_api_error(err) + "\n")
    sys.stderr.flush()
