"""Learning the custom kinds a cluster serves, for processes other than the apiserver.

Why: kctl resolves `kctl get greetings` and decodes `kind: Greeting` manifests
through the kind registry, and the garbage collector builds informers from it;
both run in their own processes, so they ask the server which CRDs are
established and register those kinds locally (the gRPC API's discovery is
the CRD list itself).
"""

from __future__ import annotations

from kubelite.api import registry
from kubelite.api.errors import ApiError
from kubelite.api.registry import KindInfo
from kubelite.client.api_client import ApiClient


def established_kinds(items: list[dict[str, object]]) -> list[KindInfo]:
    """The KindInfos of the established, not deleting CRDs among listed CRD objects."""
    out: list[KindInfo] = []
    if not items:
        return out
    # pydantic models (~30 ms to import): only in a cluster with CRDs; `kctl get` starts faster without
    from kubelite.api.apiextensions import CustomResourceDefinition

    for item in items:
        try:
            crd = CustomResourceDefinition.from_dict(item)
        except ApiError:
            continue
        if crd.metadata.deletion_timestamp or not crd.status.is_true("Established"):
            continue
        info = registry.from_crd(crd)
        if info is not None:
            out.append(info)
    return out


async def learn_custom_kinds(client: ApiClient) -> list[KindInfo]:
    """Register the kinds of the server's established CRDs that are not registered yet; those registered.

    Undo with `forget`, so a process that also hosts an apiserver (tests) keeps only its own kinds.
    """
    listing = await client.list_raw("customresourcedefinitions")
    added = []
    known = {k.custom.crd_name for k in registry.custom_kinds() if k.custom is not None}
    for info in established_kinds([i for i in listing.get("items", []) if isinstance(i, dict)]):
        if info.custom is not None and info.custom.crd_name not in known:
            registry.register(info)
            added.append(info)
    return added


def forget(kinds: list[KindInfo]) -> None:
    for info in kinds:
        if info.custom is not None:
            registry.unregister(info.custom.crd_name, info)
