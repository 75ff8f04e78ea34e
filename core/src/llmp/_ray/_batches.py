"""The three batch formats Ray Data hands a ``map_batches`` function, read and extended alike.

Ray gives a batch as a ``pyarrow.Table`` (``batch_format="pyarrow"``, what `llmp.ray.generate`
asks for), a ``pandas.DataFrame`` (``"pandas"``) or a dict of numpy arrays (``"numpy"``, Ray's
default). Prompts are read as plain Python values whatever the format (numpy hands nested columns
over as arrays of arrays), and the output columns go back in the format that came in.

Message lists read from Arrow carry every key of the column's struct type, with None where a
row's message lacks it (a ``tool_call_id`` on a user message, say): those Nones are dropped so
each message is what the user wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmp.errors import ConfigurationError

__all__ = ["column_names", "num_rows", "read_column", "strip_nones", "with_columns"]


def _is_arrow(batch: Any) -> bool:
    return type(batch).__module__.startswith("pyarrow") and hasattr(batch, "column_names")


def _is_pandas(batch: Any) -> bool:
    return type(batch).__module__.startswith("pandas") and hasattr(batch, "columns")


def column_names(batch: Any) -> list[str]:
    if _is_arrow(batch):
        return list(batch.column_names)
    if _is_pandas(batch):
        return [str(name) for name in batch.columns]
    if isinstance(batch, Mapping):
        return [str(name) for name in batch]
    raise TypeError(
        "a batch must be a pyarrow.Table, a pandas.DataFrame or a dict of columns, "
        f"got {type(batch).__name__}"
    )


def num_rows(batch: Any) -> int:
    if _is_arrow(batch):
        return int(batch.num_rows)
    if _is_pandas(batch):
        return len(batch)
    return len(next(iter(batch.values()))) if batch else 0


def plain(value: Any) -> Any:
    """numpy arrays and scalars (nested too) as lists and Python values."""
    tolist = getattr(value, "tolist", None)
    if tolist is not None and type(value).__module__ == "numpy":
        value = tolist()
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def strip_nones(value: Any) -> Any:
    """Dict entries whose value is None removed, at every depth (see the module docstring)."""
    if isinstance(value, list):
        return [strip_nones(item) for item in value]
    if isinstance(value, dict):
        return {key: strip_nones(item) for key, item in value.items() if item is not None}
    return value


def read_column(batch: Any, name: str, argument: str) -> list[Any]:
    """Column `name` as Python values; a ConfigurationError naming `argument` and the columns
    there are when the batch has no such column."""
    names = column_names(batch)
    if name not in names:
        raise ConfigurationError(
            f"{argument}={name!r} is not a column of the dataset; its columns are: "
            f"{', '.join(map(repr, names)) or '(none)'}"
        )
    if _is_arrow(batch):
        return list(batch.column(name).to_pylist())
    if _is_pandas(batch):
        return [plain(value) for value in batch[name].tolist()]
    return [plain(value) for value in batch[name]]


def with_columns(batch: Any, columns: Mapping[str, Any]) -> Any:
    """`batch` with `columns` added, in its own format. Values are pyarrow arrays for a table,
    Python lists otherwise."""
    if _is_arrow(batch):
        for name, array in columns.items():
            batch = batch.append_column(name, array)
        return batch
    if _is_pandas(batch):
        batch = batch.copy(deep=False)
        for name, values in columns.items():
            batch[name] = values.to_pylist() if hasattr(values, "to_pylist") else values
        return batch
    import numpy as np

    out = dict(batch)
    for name, values in columns.items():
        items = values.to_pylist() if hasattr(values, "to_pylist") else list(values)
        array = np.empty(len(items), dtype=object)
        array[:] = items  # element-wise: a list of lists stays one object per row
        out[name] = array
    return out
