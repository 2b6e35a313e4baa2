"""Item attributes for request filters (``--items items.csv``; ``PUT /items/{id}``).

Every value is text. A filter ``?category=shoes`` keeps items whose ``category`` is ``shoes``
(an item without that attribute is dropped); an item whose ``in_stock`` is false (``false``,
``0``, ``no``) is dropped from every list.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

from shopscale.errors import InputError

IN_STOCK = "in_stock"
FALSE = frozenset({"false", "0", "no"})


def text(value: object) -> str:
    """An attribute value as text (JSON true/false as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Catalogue:
    """item_id -> attributes, with per-model arrays over item codes for fast filters."""

    def __init__(self, rows: dict[str, dict[str, str]] | None = None) -> None:
        self.rows: dict[str, dict[str, str]] = rows or {}
        self.columns: set[str] = {c for attrs in self.rows.values() for c in attrs}
        self._items: list[str] = []
        self._arrays: dict[str, npt.NDArray[np.object_]] = {}
        self._out = np.zeros(0, dtype=bool)
        self._out_codes: npt.NDArray[np.int32] | None = None
        """Codes of the sold-out items (the blocked set of a request without filters),
        computed on first use after a change."""

    @classmethod
    def read(cls, path: Path) -> Catalogue:
        """Read a CSV with an ``item_id`` column and any others (all read as text)."""
        try:
            table = pacsv.read_csv(
                path, convert_options=pacsv.ConvertOptions(strings_can_be_null=False)
            )
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(path, f"cannot read item catalogue: {exc}") from None
        if "item_id" not in table.column_names:
            raise InputError(path, "item catalogue has no item_id column", 1)
        table = table.cast(pa.schema([(n, pa.string()) for n in table.column_names]))
        others = [n for n in table.column_names if n != "item_id"]
        rows: dict[str, dict[str, str]] = {}
        for row in table.to_pylist():
            rows[str(row["item_id"])] = {c: str(row[c]).strip().lower() for c in others}
        catalogue = cls(rows)
        catalogue.columns |= set(others)
        return catalogue

    def bind(self, items: list[str]) -> None:
        """Index the attributes by the codes of a (new) served model's items."""
        self._items = items
        self._arrays = {c: self._array(c) for c in self.columns}
        self._out = np.array([self._sold_out(i) for i in items], dtype=bool)
        self._out_codes = None

    def _sold_out(self, item_id: str) -> bool:
        return self.rows.get(item_id, {}).get(IN_STOCK) in FALSE

    def _array(self, column: str) -> npt.NDArray[np.object_]:
        return np.array([self.rows.get(i, {}).get(column) for i in self._items], dtype=object)

    def put(self, item_id: str, attrs: dict[str, object], code: int) -> dict[str, str]:
        """Set some attributes of one item (``code``: its model code, or -1)."""
        mine = self.rows.setdefault(item_id, {})
        for column, value in attrs.items():
            mine[column] = text(value).strip().lower()
            if column not in self.columns:
                self.columns.add(column)
                self._arrays[column] = self._array(column)
            elif code >= 0:
                self._arrays[column][code] = mine[column]
        if code >= 0:
            self._out[code] = self._sold_out(item_id)
            self._out_codes = None
        return dict(mine)

    def blocked(self, filters: dict[str, str]) -> npt.NDArray[np.int32]:
        """Codes no list may show, sorted: out of stock, or not matching every filter."""
        if not filters:
            if self._out_codes is None:
                self._out_codes = np.flatnonzero(self._out).astype(np.int32)
            return self._out_codes
        n = len(self._items)
        ok = ~self._out if self._out.size == n else np.ones(n, dtype=bool)
        for column, value in filters.items():
            ok &= self._arrays[column] == value.strip().lower()
        return np.flatnonzero(~ok).astype(np.int32)
