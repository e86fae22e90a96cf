"""The stress histogram printer: rows most often seen first, shares, and a verdict line that says
no more than the counts show."""

from synclab.reports.histogram import format_histogram, format_summary, status, verdict


def _result(*outcomes, samples=None, **extra):
    entries = [{"outcome": o, "count": c, "grade": g, "description": d} for o, c, g, d in outcomes]
    total = sum(e["count"] for e in entries) if samples is None else samples
    return {"test": "m:T", "description": "", "samples": total, "seconds": 1.0, "samples_per_s": float(total),
            "stride": 100, "outcomes": entries, "warnings": [], "error": None, "gil_enabled": True, **extra}


def test_an_interesting_outcome_is_reported_with_its_rate_and_interval() -> None:
    result = _result(("2", 9_990, "acceptable", ""), ("1", 10, "interesting", "lost update"))
    text = format_histogram(result, "CPython 3.11.7")
    lines = text.splitlines()
    assert lines[0] == "m:T  (CPython 3.11.7, GIL enabled)"
    assert [line.split()[0] for line in lines[3:5]] == ["2", "1"]
    assert "lost update" in lines[4] and "0.1%" in lines[4]
    assert verdict(result).startswith("interesting: seen in 10 of 10,000 samples (0.1%, 95% interval 0.0")
    assert status(result) == "interesting"


def test_nothing_seen_is_a_bound_not_a_proof() -> None:
    result = _result(("2", 1_000_000, "acceptable", ""))
    line = verdict(result)
    assert "no interesting or forbidden outcome in 1,000,000 samples (rate < 0.0003% at 95%)" in line
    assert "not proof that the code is safe" in line


def test_a_forbidden_outcome_fails_whatever_else_was_seen() -> None:
    result = _result(("2", 99, "acceptable", ""), ("1", 50, "interesting", ""), ("error", 1, "forbidden", ""),
                     error="Traceback...\nRuntimeError: boom")
    assert status(result) == "forbidden"
    assert verdict(result).startswith("FAILED: a forbidden outcome in 1 of 150 samples")
    assert format_histogram(result).splitlines()[-3:] == [
        "  an actor or the arbiter raised; the first traceback:", "    Traceback...", "    RuntimeError: boom"]
    assert format_summary([result, _result(("2", 5, "acceptable", ""))]) == (
        "2 stress tests, 155 samples: 1 failed (forbidden outcome seen), 0 with an interesting outcome, 1 with neither")


def test_an_unknown_gil_state_is_said_so() -> None:
    assert "GIL state not known" in format_histogram(_result(("1", 1, "acceptable", ""), gil_enabled=None))
