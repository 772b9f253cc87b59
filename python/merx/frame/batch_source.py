"""Data that is read batch by batch: a Parquet file, a directory of Parquet files or a
``pyarrow.dataset.Dataset`` (needs the optional ``pyarrow``, ``pip install merx[parquet]``).

:class:`ParquetBatches` reads only the columns a model uses, file by file (each file's own
schema is checked, so a column missing in one file of a directory is named with that
file), in record batches of ``batch_rows`` rows, as pandas frames (dictionary columns
become pandas Categoricals). :func:`is_batch_source` says whether ``lmer`` should stream.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import pandas as pd

from ..errors import DataError

DEFAULT_BATCH_ROWS = 1 << 20


def _pyarrow_dataset():
    try:
        import pyarrow.dataset as pads
    except ImportError:  # pragma: no cover - pyarrow is in the test extra
        raise DataError(
            "reading Parquet data needs pyarrow: pip install 'merx[parquet]' (or pip install pyarrow)"
        ) from None
    return pads


def is_batch_source(data: Any) -> bool:
    """A path (str or os.PathLike) or a pyarrow Dataset: data to read batch by batch."""
    if isinstance(data, (str, os.PathLike)):
        return True
    return type(data).__module__.startswith("pyarrow") and hasattr(data, "get_fragments")


class ParquetBatches:
    """The batches of a Parquet dataset, each a pandas frame of the columns asked for."""

    def __init__(self, data: Any, batch_rows: int = DEFAULT_BATCH_ROWS):
        pads = _pyarrow_dataset()
        if isinstance(data, (str, os.PathLike)):
            path = os.fspath(data)
            if not os.path.exists(path):
                raise DataError(f"no such Parquet file or directory: {path!r}")
            try:
                self.dataset = pads.dataset(path, format="parquet")
            except Exception as e:  # pyarrow's own errors (not Parquet, unreadable)
                raise DataError(f"cannot read {path!r} as Parquet: {e}") from None
            self.name = path
        else:
            self.dataset = data
            self.name = "the dataset"
        self.batch_rows = int(batch_rows)
        self.fragments = list(self.dataset.get_fragments())
        if not self.fragments:
            raise DataError(f"{self.name} holds no Parquet files")

    @property
    def n_rows(self) -> int:
        """The number of rows of all files (from the Parquet footers; for progress bars)."""
        return int(sum(fragment.count_rows() for fragment in self.fragments))

    @property
    def column_names(self) -> list:
        return list(self.dataset.schema.names)

    def _fragment_name(self, fragment) -> str:
        return getattr(fragment, "path", None) or self.name

    def check_columns(self, columns: list) -> None:
        """Every file has every column the model uses (a DataError names the file)."""
        for fragment in self.fragments:
            names = set(fragment.physical_schema.names)
            missing = [c for c in columns if c not in names]
            if missing:
                raise DataError(
                    f"file {self._fragment_name(fragment)!r} of {self.name} has no column "
                    f"{', '.join(repr(c) for c in missing)} (the model uses it); every file must have the columns"
                )

    def batches(self, columns: list) -> Iterator[tuple]:
        """``(pandas frame, file name)`` per record batch, in file order."""
        for fragment in self.fragments:
            name = self._fragment_name(fragment)
            for batch in fragment.to_batches(columns=columns, batch_size=self.batch_rows):
                if batch.num_rows:
                    yield batch.to_pandas(), name

    def to_table(self, columns: list):
        return self.dataset.to_table(columns=columns)


def output_writer(path: str, schema_fields: list):
    """A Parquet writer for ``path`` with float64 columns ``schema_fields``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, pa.float64()) for name in schema_fields])
    return pq.ParquetWriter(os.fspath(path), schema), pa


def table_of(pa, columns: dict):
    return pa.table({k: pd.Series(v).to_numpy() for k, v in columns.items()})
