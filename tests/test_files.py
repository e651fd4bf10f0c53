"""builder/files.py: RowFile gives back exactly the rows an array would, by any index, from disk, to any thread."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.files import RowFile


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.integers(1, 9), min_size=1, max_size=6), width=st.integers(1, 5),
       dtype=st.sampled_from([np.float32, np.float64]), data=st.data())
def test_rows_read_back_equal_the_array_they_were_appended_from(batches, width, dtype, data):
    rng = np.random.default_rng(len(batches) * 10 + width)
    parts = [rng.normal(size=(count, width)).astype(dtype) for count in batches]
    whole = np.concatenate(parts)
    with tempfile.TemporaryDirectory() as folder:
        rows = RowFile(Path(folder) / "x.rows", width, dtype)
        for part in parts:
            rows.append(part)
        assert rows.shape == whole.shape and len(rows) == len(whole) and rows.dtype == whole.dtype
        # any order, repeats and runs of consecutive rows, as folds and samples index them
        index = np.array(data.draw(st.lists(st.integers(0, len(whole) - 1), max_size=30)), dtype=np.int64)
        taken = rows[index]
        assert taken.dtype == whole.dtype and np.array_equal(taken, whole[index])
        assert np.array_equal(rows[np.arange(len(whole))], whole)
        rows.close()


def test_a_row_file_refuses_rows_of_another_width_and_rows_it_does_not_hold(tmp_path):
    rows = RowFile(tmp_path / "x.rows", 3, np.float32)
    rows.append(np.ones((2, 3)))
    with pytest.raises(ValueError, match="3-wide"):
        rows.append(np.ones((2, 4)))
    with pytest.raises(IndexError):
        rows[np.array([0, 2])]
    with pytest.raises(IndexError):
        rows[np.array([-1])]
    assert rows[np.array([], dtype=np.int64)].shape == (0, 3)
    rows.close()


def test_threads_reading_one_row_file_at_once_each_get_their_own_rows(tmp_path):
    """The probe and the rank curve read the same feature files from two threads (builder.benchmark.analyses): a
    read is a seek and a read on one handle, so without the file's lock one thread's seek lands between the other's
    seek and read. A switch interval of a microsecond makes the threads interleave between any two bytecodes."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    whole = np.arange(4000 * 3, dtype=np.float32).reshape(4000, 3)
    rows = RowFile(tmp_path / "x.rows", 3, np.float32)
    rows.append(whole)
    indexes = [np.random.default_rng(seed).choice(len(whole), 40) for seed in range(400)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(4) as pool:
            taken = list(pool.map(lambda index: rows[index], indexes))
    finally:
        sys.setswitchinterval(interval)
        rows.close()
    assert all(np.array_equal(got, whole[index]) for got, index in zip(taken, indexes))
