"""`LazyItems`: the items of one typed List answer, each decoded when it is first read.

Why: a List of 10,000 pods is ~21 MB of JSON; parsing it is ~0.2 s and validating it into
models ~0.6 s more (bench/README.md), while many callers read only part of it: an
informer's relist needs the models of the objects that changed since it last looked and
only the key and resourceVersion of the rest; a caller looking for one name needs one
model. The answer keeps each item's JSON bytes as the server sent them and builds
(and keeps) an item's model the first time it is read, so nobody pays for what they do
not read, and there is still one model class and one decoder (`ApiClient`'s).

Reading every item (iterating, comparing, slicing) builds the models still missing as one
batch under `gc_paused(long_lived=True)`, as an eager List did. A malformed item raises when it is read
(`InternalError` for bad JSON, `Invalid` for a bad object), not when the List returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

from kubelite.wire.gcpause import gc_paused

T = TypeVar("T")

Decode = Callable[[bytes], dict[str, Any]]


class LazyItems(Sequence[T], Generic[T]):
    """A read-only sequence of models built on first read from the items' JSON bytes."""

    __slots__ = ("_data", "_decode", "_build", "_dicts", "_models")

    def __init__(self, data: Sequence[bytes], decode: Decode, build: Callable[[dict[str, Any]], T]):
        self._data = list(data)
        self._decode = decode
        self._build = build
        self._dicts: dict[int, dict[str, Any]] = {}  # decoded by `raw`, awaiting their model
        self._models: list[T | None] = [None] * len(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def raw(self, index: int) -> dict[str, Any]:
        """Item `index` as decoded JSON (not validated), e.g. to read its metadata without
        building its model. Kept until the model is built; treat it as read-only."""
        d = self._dicts.get(index)
        if d is None:
            d = self._dicts[index] = self._decode(self._data[index])
        return d

    def _model(self, index: int) -> T:
        model = self._models[index]
        if model is None:
            d = self._dicts.pop(index, None)
            model = self._models[index] = self._build(self._decode(self._data[index]) if d is None else d)
        return model

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._model(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("LazyItems index out of range")
        return self._model(index)

    def _models_all(self) -> list[T]:
        """Every model, building the missing ones in one batch (no cyclic GC meanwhile, and the
        batch then kept out of young collections: the caller holds it, see `gc_paused`)."""
        if any(m is None for m in self._models):
            with gc_paused(long_lived=True):
                for i, m in enumerate(self._models):
                    if m is None:
                        self._model(i)
        return self._models  # type: ignore[return-value]  # no None left

    def __iter__(self) -> Iterator[T]:
        return iter(self._models_all())

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence (a list too) of equal items, as the eager list was."""
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable cache, compared by value

    def __repr__(self) -> str:
        built = sum(m is not None for m in self._models)
        return f"LazyItems({len(self)} items, {built} decoded)"
