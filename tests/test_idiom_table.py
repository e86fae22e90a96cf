"""The idioms' answer table, over result dicts as StressResult.to_dict() writes them: what a cell
says for an interesting, a forbidden and an unseen outcome, and how rows and columns are laid out."""

from typing import Any, Dict, Sequence, Tuple

from synclab.reports.idiom_table import cell, idiom_table
from synclab.reports.stats import never_seen_bound

LOST = "lost update: both actors read 0"


def _result(test: str, samples: int, *outcomes: Tuple[str, int, str, str]) -> Dict[str, Any]:
    return {"test": f"synclab.kernel.stress.idioms:{test}", "samples": samples,
            "outcomes": [{"outcome": o, "count": c, "grade": g, "description": d} for o, c, g, d in outcomes]}


def _racy(test: str, lost: int, samples: int) -> Dict[str, Any]:
    return _result(test, samples, ("2", samples - lost, "acceptable", ""), ("1", lost, "interesting", LOST))


def test_an_interesting_outcome_is_named_by_its_label_with_its_count_of_the_samples() -> None:
    assert cell(_racy("AttributeIncrement", 12, 1_000_000)) == "lost update in 12 of 1,000,000"


def test_interesting_outcomes_of_one_label_are_summed_and_labels_go_most_seen_first() -> None:
    result = _result("GeneratorNext", 1000, ("0, 1", 900, "acceptable", ""),
                     ("ValueError, 0", 30, "interesting", "ValueError: already executing"),
                     ("1, ValueError", 40, "interesting", "ValueError: already executing"),
                     ("3", 30, "interesting", ""))
    assert cell(result) == "ValueError in 70 of 1,000; outcome '3' in 30 of 1,000"


def test_a_forbidden_outcome_is_marked_in_capitals_before_anything_else() -> None:
    result = _result("AttributeIncrementLocked", 5000, ("2", 4998, "acceptable", ""),
                     ("1", 1, "forbidden", "with the lock held: lost update: both actors read 0"),
                     ("error", 1, "forbidden", "an actor or the arbiter raised"))
    assert cell(result) == "FORBIDDEN '1' in 1 of 5,000; FORBIDDEN 'error' in 1 of 5,000"


def test_an_outcome_never_seen_bounds_its_rate_instead_of_calling_the_idiom_safe() -> None:
    result = _result("ListAppend", 300_000, ("1, 2, 2", 300_000, "acceptable", ""))
    assert cell(result) == f"never seen in 300,000 (rate < {never_seen_bound(300_000):.2g} at 95%)"
    assert "1e-05" in cell(result)
    assert cell(_result("ListAppend", 0)) == "no samples"


def _rows(text: str) -> Sequence[str]:
    return text.splitlines()[3:]


def test_rows_are_idioms_in_the_order_met_and_columns_the_labels_given() -> None:
    columns = [
        ("3.11 GIL", [_racy("AttributeIncrement", 0, 100), _racy("LazyInit", 0, 100)]),
        ("3.13t no GIL", [_racy("LazyInit", 7, 200), _racy("AttributeIncrement", 3, 200),
                          _racy("GlobalIncrement", 1, 50)]),
    ]
    text = idiom_table(columns)
    lines = text.splitlines()
    assert lines[0].startswith("stress tests: ")
    assert lines[1].split() == ["test", "3.11", "GIL", "3.13t", "no", "GIL"]
    rows = _rows(text)
    assert [row.split()[0] for row in rows] == ["AttributeIncrement", "LazyInit", "GlobalIncrement"]
    assert "never seen in 100 (rate < 0.03 at 95%)" in rows[0] and "lost update in 3 of 200" in rows[0]
    assert rows[2].split()[1] == "-"  # not run on 3.11: said, not left blank
    assert rows[2].endswith("lost update in 1 of 50")
    # every cell starts under its header: the columns are flush left
    start = lines[1].index("3.13t no GIL")
    assert rows[1][start:].startswith("lost update in 7 of 200")


def test_two_results_for_one_test_in_one_column_are_one_cell_with_their_samples_summed() -> None:
    text = idiom_table([("3.13t no GIL", [_racy("AttributeIncrement", 2, 100), _racy("AttributeIncrement", 3, 400)])])
    [row] = _rows(text)
    assert row.endswith("lost update in 5 of 500")
