"""Spill files: written once in order, read back in batches, in the same order, by several passes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from builder.spill import Spill


def test_records_come_back_in_order_in_batches_across_files(tmp_path):
    spill = Spill(tmp_path / "spill", batch_size=3, file_records=7)
    records = [{"episode_id": f"e{i}", "turns": [{"prompt": "p" * i, "n": i}], "none": None} for i in range(20)]
    for record in records:
        spill.append(record["episode_id"], record)
    spill.close()
    assert len(spill) == 20 and len(spill.files) == 3  # 7 + 7 + 6 (files close at whole batches: 9, 9, 2)
    batches = list(spill.batches())
    assert all(len(batch) <= 3 for batch in batches)
    assert [r for batch in batches for r in batch] == records
    assert list(spill) == records  # a second pass reads the same


def test_wanted_ids_filter_without_changing_the_order(tmp_path):
    spill = Spill(tmp_path / "spill", batch_size=4)
    for i in range(10):
        spill.append(f"e{i}", {"i": i})
    kept = [r["i"] for batch in spill.batches({"e7", "e2", "e9"}) for r in batch]
    assert kept == [2, 7, 9]
    assert list(spill.batches(set())) == []


@settings(max_examples=25, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=5), st.one_of(st.none(), st.integers(-2**53, 2**53), st.text(),
                                                                   st.booleans()), max_size=4), max_size=30),
       st.integers(1, 5))
def test_any_json_records_round_trip(tmp_path_factory, records, batch_size):
    spill = Spill(tmp_path_factory.mktemp("spill") / "s", batch_size=batch_size, file_records=batch_size * 2)
    for index, record in enumerate(records):
        spill.append(str(index), record)
    assert list(spill) == records
