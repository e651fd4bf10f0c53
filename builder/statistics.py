"""Small statistics every layer may use: a sequence of numbers described, and the one spelling of "not known"
in the tally's int8 columns. At the bottom of the package, so that the families (which compute their own outcome
statistics) and the report both read them without either importing the other."""

from __future__ import annotations

import statistics
from array import array

UNKNOWN = "unknown"  # the one spelling of a value that is not known: an outcome group, a judge kind, a language
UNKNOWN_CODE = -1  # UNKNOWN in the tally's numeric outcome columns (1 / 0 / -1)


def numbers() -> array:
    """A growing column of float64 values (8 bytes a value, no object per value)."""
    return array("d")


def describe_numbers(values) -> dict:
    """min / median / mean / max / std (population) of a sequence of numbers; all null when it is empty."""
    values = list(values)
    if not values:
        return {"count": 0, "min": None, "median": None, "mean": None, "max": None, "std": None}
    return {
        "count": len(values),
        "min": _whole(round(min(values), 6)),
        "median": _whole(round(statistics.median(values), 6)),
        "mean": round(statistics.fmean(values), 6),
        "max": _whole(round(max(values), 6)),
        "std": round(statistics.pstdev(values), 6),
    }


def _whole(value: float) -> int | float:
    """A count stays a count: tallies keep numbers as floats, so 15.0 tokens is written as 15."""
    return int(value) if float(value).is_integer() else value


def numeric_key(item) -> int:
    return int(item[0])
