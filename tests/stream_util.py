"""Helpers of the streamed-fit tests (Parquet and Dask, lmer and glmer)."""

import numpy as np
import pandas as pd


def write_parts(df: pd.DataFrame, directory, n_files: int, row_group: int) -> str:
    """``df`` as ``n_files`` Parquet files of consecutive rows in ``directory`` (row groups of
    ``row_group`` rows); the directory's path. Needs pyarrow (the tests importorskip it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(df)), n_files)):
        pq.write_table(pa.Table.from_pandas(df.iloc[part], preserve_index=False),
                       str(directory / f"part-{i:02d}.parquet"), row_group_size=row_group)
    return str(directory)


def rel(a, b) -> float:
    """Largest relative difference of ``a`` from ``b`` (0 for empty arrays)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))) if a.size else 0.0
