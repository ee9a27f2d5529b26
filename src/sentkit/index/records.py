"""The ids and metadata of a vector index's rows: unique int or str ids, JSON-able metadata dicts."""

from __future__ import annotations

import json
import numbers
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from sentkit.errors import InputError

Id = int | str


class Records:
    """Row ``i`` of the index has ``ids[i]`` and ``metadata[i]`` (a dict or None).

    Ids given as None are numbered from ``next_id``: one more than the largest int id ever added.
    """

    def __init__(self) -> None:
        self.ids: list[Id] = []
        self.metadata: list[dict[str, Any] | None] = []
        self.positions: dict[Id, int] = {}
        self.next_id = 0

    def __len__(self) -> int:
        return len(self.ids)

    def check(
        self, count: int, ids: Sequence[Any] | None, metadata: Sequence[Any] | None
    ) -> tuple[list[Id], list[Any]]:
        """Ids and metadata for ``count`` new rows, checked (nothing is stored yet).

        Raises:
            InputError: a length that is not ``count``, an id that is neither int nor str, repeated
                or already in the index, or metadata that is not a JSON-able dict with str keys.
        """
        automatic: list[Id] = list(range(self.next_id, self.next_id + count))
        new_ids = automatic if ids is None else self._check_ids(count, ids)
        if metadata is None:
            return new_ids, [None] * count
        if isinstance(metadata, (dict, str)) or len(metadata) != count:
            raise InputError(f"metadata must be a list of {count} dicts (one per embedding, or None).")
        for position, item in enumerate(metadata):
            _check_metadata(position, item)
        return new_ids, list(metadata)

    def _check_ids(self, count: int, ids: Sequence[Any]) -> list[Id]:
        if isinstance(ids, (str, bytes)) or len(ids) != count:
            raise InputError(f"ids must be a list of {count} ints or strings (one per embedding).")
        checked: list[Id] = []
        for position, value in enumerate(ids):
            if isinstance(value, str):
                checked.append(value)
            elif isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
                checked.append(int(value))
            else:
                raise InputError(f"ids[{position}] is {value!r} ({type(value).__name__}); ids must be ints or strings.")
        if len(set(checked)) != len(checked):
            repeated = [value for value, times in Counter(checked).items() if times > 1]
            raise InputError(f"ids repeat within this call: {repeated[:5]!r}; every id must be unique.")
        present = [value for value in checked if value in self.positions]
        if present:
            raise InputError(
                f"ids already in the index: {present[:5]!r}; remove them first or use new ids (ids must be unique)."
            )
        return checked

    def append(self, ids: list[Id], metadata: list[Any]) -> None:
        for value in ids:
            self.positions[value] = len(self.ids)
            self.ids.append(value)
            if isinstance(value, int):
                self.next_id = max(self.next_id, value + 1)
        self.metadata.extend(metadata)

    def rows_of(self, ids: Sequence[Any]) -> np.ndarray:
        """Row numbers (n,) of ``ids``.

        Raises:
            InputError: ids not in the index (the first few are named).
        """
        missing = [value for value in ids if value not in self.positions]
        if missing:
            raise InputError(f"ids not in the index: {missing[:5]!r} ({len(missing)} in all); nothing was removed.")
        return np.array([self.positions[value] for value in ids], dtype=np.int64)

    def keep(self, mask: np.ndarray) -> None:
        """Keep the rows where ``mask`` (N,) bool is true."""
        self.ids = [value for value, kept in zip(self.ids, mask.tolist(), strict=True) if kept]
        self.metadata = [value for value, kept in zip(self.metadata, mask.tolist(), strict=True) if kept]
        self.positions = {value: row for row, value in enumerate(self.ids)}

    def to_json(self) -> bytes:
        return json.dumps({"ids": self.ids, "metadata": self.metadata, "next_id": self.next_id}).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Records:
        """Records from :meth:`to_json`'s bytes.

        Raises:
            ValueError: not that JSON document, or ids that are not unique ints / strings.
        """
        document = json.loads(data.decode("utf-8"))
        ids, metadata, next_id = document["ids"], document["metadata"], document["next_id"]
        if not isinstance(ids, list) or not isinstance(metadata, list) or len(ids) != len(metadata):
            raise ValueError("ids and metadata must be lists of the same length")
        if not isinstance(next_id, int):
            raise ValueError("next_id must be an int")
        if not all(item is None or isinstance(item, dict) for item in metadata):
            raise ValueError("every metadata entry must be a dict or null")
        records = cls()
        records.append(records._check_ids(len(ids), ids), metadata)
        records.next_id = max(records.next_id, next_id)
        return records


def _check_metadata(position: int, item: Any) -> None:
    if item is None:
        return
    if not isinstance(item, dict) or not all(isinstance(key, str) for key in item):
        raise InputError(f"metadata[{position}] must be a dict with str keys (or None), got {type(item).__name__}.")
    try:
        json.dumps(item, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"metadata[{position}] cannot be saved as JSON: {exc}. Use str, int, float, bool, lists and dicts."
        ) from exc
