"""The three verdicts of compare and replay, each on small hand-computed tables: the power rule on
its own, Bonferroni over outcomes, what makes two runs different experiments, and the exit codes."""

from pathlib import Path

import pytest

from synclab.commands.cli import main
from synclab.reports.stats import (_binomial_tail, fewest_telling_count, other_side_to_tell, power_against_never,
                           repeats_to_tell_from_never, tells_from_never)
from synclab.reports.verdict import EXIT_CODES, Counts, Verdict, decide, outcome_tests, overall, runtime_differences
from synthetic import SCHEMA2_LOCKED, fixture, job, result

RUNTIME = {"implementation": "CPython", "version": "3.13.5", "free_threaded": True, "gil_enabled": False,
           "start_method": "fork"}


# ------------------------------------------------------------------ the power rule on its own


def test_how_few_repeats_can_tell_a_rate_from_never():
    # 3/3 against 0/3: p = 2 / C(6, 3) = 0.1; 4/4 against 0/4: 2 / C(8, 4) = 0.0286
    assert not tells_from_never(3, 3, 3, 0.05) and tells_from_never(4, 4, 4, 0.05)
    # 5 a side: 4/5 against 0/5 gives p = 10 / 210 = 0.048, 3/5 against 0/5 gives 20 / 120 = 0.17
    assert fewest_telling_count(5, 5, 0.05) == 4
    assert fewest_telling_count(3, 3, 0.05) is None  # not even 3 of 3
    assert tells_from_never(5, 5, 2, 0.05)  # 5/5 against 0/2: 1 / C(7, 2) = 0.048


def test_how_many_on_the_other_side_alone_would_tell():
    # 3/3 against 0/4: the 3 of 7 all on one side, 1 / C(7, 3) = 0.029; against 0/3 it was 0.1
    assert other_side_to_tell(3, 3, 0.05) == 4
    # 1/3 against 0/58: 3 / 61 = 0.049; against 0/57: 3 / 60 = 0.05, not below it
    assert other_side_to_tell(1, 3, 0.05) == 58
    assert other_side_to_tell(1, 60, 0.05) is None  # p = 60 / (60 + N) needs N > 1140, beyond any suggestion
    assert other_side_to_tell(0, 3, 0.05) is None


def test_power_against_never_by_hand():
    assert power_against_never(1.0, 4, 0.05) == 1.0  # 4 of 4 is certain, and it is significant
    assert power_against_never(0.5, 4, 0.05) == pytest.approx(1 / 16)  # only 4 of 4 tells, P = 0.5^4
    assert power_against_never(0.9, 3, 0.05) == 0.0  # 3 a side can never tell
    # 5 a side needs 4 or 5 of 5: at 0.8, 5 * 0.8^4 * 0.2 + 0.8^5 = 0.73728
    assert power_against_never(0.8, 5, 0.05) == pytest.approx(0.73728)
    assert _binomial_tail(10, 0.3, 0) == pytest.approx(1.0) and _binomial_tail(10, 0.3, 11) == 0.0


def test_suggested_repeats_reach_the_power_they_promise():
    assert repeats_to_tell_from_never(1.0, 0.05) == 4
    for rate in (2 / 3, 0.5, 0.1):
        needed = repeats_to_tell_from_never(rate, 0.05)
        assert power_against_never(rate, needed, 0.05) >= 0.8 > power_against_never(rate, needed - 1, 0.05)
    assert repeats_to_tell_from_never(0.0005, 0.05) is None  # more than anyone should be told to run
    assert repeats_to_tell_from_never(0.0, 0.05) is None


# ------------------------------------------------------------------ decide


def counts(repeats, outcomes, forbidden=(), **extra):
    return Counts(repeats, outcomes, tuple(forbidden), **extra)


def test_agreement_with_the_power_to_disagree_is_reproduced():
    decision = decide(counts(5, {"consistent": 5}), counts(5, {"consistent": 5}), ("origin", "replay"))
    assert decision.verdict is Verdict.REPRODUCED
    assert decision.reasons == ("consistent: origin 5/5, replay 5/5: p = 1, and a rate of 1 against 0 would have "
                                "been significant at 0.05",)


def test_agreement_by_too_few_repeats_is_inconclusive():
    decision = decide(counts(3, {"consistent": 3}), counts(3, {"consistent": 3}))
    assert decision.verdict is Verdict.INCONCLUSIVE
    assert decision.reasons == ("consistent: A 3/3, B 3/3: p = 1; 3 against 3 repeats could not tell a rate of 1 "
                                "from 0 at 0.05; about 4 repeats a side would tell a rate of 1 from 0",)


def test_a_race_against_a_side_that_never_shows_it():
    # 2/3 against 0/3: p = 0.4 (hypergeometric, col 2 of 6: (C(3,2) + C(3,2)) / C(6,2) = 6/15)
    decision = decide(counts(3, {"lost_updates": 2, "consistent": 1}), counts(3, {"consistent": 3}),
                      ("origin", "replay"))
    assert decision.verdict is Verdict.INCONCLUSIVE
    assert decision.reasons == ("lost_updates: origin 2/3, replay 0/3: p = 0.4; 3 against 3 repeats could not tell "
                                "a rate of 0.67 from 0 at 0.05; about 9 repeats a side would tell a rate of 0.67 "
                                "from 0",)
    assert decision.p_value == pytest.approx(0.4)


def test_a_forbidden_outcome_on_one_side_only_differs_whatever_the_p_value():
    decision = decide(counts(3, {"lost_updates": 1, "consistent": 2}, ["lost_updates"]), counts(3, {"consistent": 3}),
                      ("origin", "replay"))
    assert decision.verdict is Verdict.DIFFERS
    assert decision.reasons == ("forbidden outcome lost_updates in origin only: origin 1/3, replay 0/3",)
    assert decision.p_value == 1.0


def test_a_rate_that_differs_beyond_chance_differs():
    # 10/10 against 2/10: the two most extreme tables of 12 in 20, 2 * C(10,2) / C(20,12) = 90 / 125970
    decision = decide(counts(10, {"lost_updates": 10}), counts(10, {"lost_updates": 2, "consistent": 8}))
    assert decision.verdict is Verdict.DIFFERS
    assert decision.p_value == pytest.approx(90 / 125970)
    assert decision.reasons == ("lost_updates: A 10/10, B 2/10: Fisher exact p = 0.00071 < 0.05",)


def test_more_than_two_outcomes_are_tested_at_alpha_over_their_number():
    a, b = counts(7, {"consistent": 7}), counts(7, {"consistent": 2, "lost_updates": 2, "timeout": 3})
    tests, level = outcome_tests(a, b, 0.05)
    assert level == pytest.approx(0.05 / 3)
    consistent = next(test for test in tests if test.outcome == "consistent")
    assert consistent.p_value == pytest.approx(42 / 2002)  # 2 * C(7,2) / C(14,9): below 0.05, above 0.05/3
    assert not consistent.significant
    decision = decide(a, b)
    assert decision.verdict is Verdict.INCONCLUSIVE and decision.alpha == level
    assert outcome_tests(counts(7, {"consistent": 7}), counts(7, {"consistent": 2, "lost_updates": 5}), 0.05)[1] == 0.05


def test_records_that_contradict_themselves_and_other_interpreters_differ():
    same = counts(5, {"consistent": 5}, runtime=RUNTIME)
    assert decide(same, counts(5, {"consistent": 5}, inconsistencies=2, runtime=RUNTIME)).reasons == (
        "B holds a record its own numbers contradict (2 claims; `synclab report` lists them)",)
    gil = decide(same, counts(5, {"consistent": 5}, runtime={**RUNTIME, "free_threaded": False, "gil_enabled": True}))
    assert gil.verdict is Verdict.DIFFERS and gil.reasons == (
        "free-threaded build: A yes, B no: not the same experiment", "GIL enabled: A no, B yes: not the same experiment")
    assert runtime_differences(RUNTIME, {**RUNTIME, "version": "3.13.0"}, ("A", "B")) == []  # a patch release
    assert runtime_differences(RUNTIME, None, ("A", "B")) == []  # not recorded: named among the environment instead
    assert decide(same, same, config_differences=["config lock: none vs explicit"]).verdict is Verdict.DIFFERS


def test_the_whole_takes_its_worst_job():
    assert overall([Verdict.REPRODUCED, Verdict.REPRODUCED]) is Verdict.REPRODUCED
    assert overall([Verdict.REPRODUCED, Verdict.INCONCLUSIVE]) is Verdict.INCONCLUSIVE
    assert overall([Verdict.INCONCLUSIVE, Verdict.DIFFERS]) is Verdict.DIFFERS
    assert overall([Verdict.REPRODUCED], unmatched=1) is Verdict.DIFFERS
    assert [EXIT_CODES[v] for v in Verdict] == [0, 1, 3]


# ------------------------------------------------------------------ synclab compare, end to end


def _compare(capsys, a: Path, b: Path):
    code = main(["compare", str(a), str(b)])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("a, b, code, verdict", [
    (["consistent"] * 5, ["consistent"] * 5, 0, "reproduced"),
    (["lost_updates"] * 3, ["consistent"] * 3, 3, "inconclusive"),
    (["lost_updates"] * 6, ["consistent"] * 6, 1, "differs"),
])
def test_compare_exit_codes_follow_the_verdict(tmp_path, capsys, a, b, code, verdict):
    job(tmp_path / "a", result("none", outcomes=a, direction="deposit", drifts=[0 if o == "consistent" else -3 for o in a]))
    job(tmp_path / "b", result("none", outcomes=b, direction="deposit", drifts=[0 if o == "consistent" else -3 for o in b]))
    got, out = _compare(capsys, tmp_path / "a", tmp_path / "b")
    assert got == code and f"verdict: {verdict}" in out


def test_a_doctored_locked_record_differs(tmp_path, capsys):
    job(tmp_path / "a", fixture(SCHEMA2_LOCKED))  # lock=explicit: 3 consistent repeats
    doctored = fixture(SCHEMA2_LOCKED)
    for run in doctored["runs"]:  # its numbers say a lost update, its grade still says acceptable
        run.update(after=-4, drift=-4, outcome="lost_updates")
    job(tmp_path / "b", doctored)
    got, out = _compare(capsys, tmp_path / "a", tmp_path / "b")
    assert got == 1
    assert "forbidden outcome lost_updates in B only: B 3/3, A 0/3" in out
    # a claim per repeat, and the summary the run wrote, left standing
    assert "B holds a record its own numbers contradict (4 claims; `synclab report` lists them)" in out


# ------------------------------------------------------------------ a stress test's samples


def test_fisher_exact_on_millions_of_samples_agrees_with_the_exact_sum_where_both_can_be_computed():
    from synclab.reports.stats import EXACT_TABLE_LIMIT, _fisher_large, fisher_exact

    for table in [(3, 1, 1, 3), (8, 2, 1, 5), (0, 5, 5, 0), (2, 3, 2, 3), (40, 900, 12, 1000), (700, 600, 650, 700),
                  (0, 1500, 9, 1400), (1, 0, 0, 1)]:
        assert _fisher_large(*table) == pytest.approx(fisher_exact(*table), rel=1e-9, abs=1e-300), table
    assert sum((40, 900, 12, 1000)) < EXACT_TABLE_LIMIT < sum((700, 600, 650, 700))  # both paths met above
    # a lost update seen 711 times in 587,000 samples, against none in 600,000: no chance
    assert fisher_exact(711, 586_289, 0, 600_000) < 1e-100
    # and against 690 in 600,000: the same rate
    assert fisher_exact(711, 586_289, 690, 599_310) > 0.3


def test_nothing_seen_on_either_side_is_no_evidence_of_a_reproduction():
    empty = Counts(0, {}, (), unit="samples")
    decision = decide(empty, empty)
    assert decision.verdict is Verdict.INCONCLUSIVE and decision.reasons == (
        "no outcome on either side (0 against 0 samples): nothing to tell the two apart by",)


def test_fisher_exact_keeps_its_precision_at_the_counts_a_record_may_claim():
    from math import comb

    from synclab.reports.stats import fisher_exact

    # an outcome seen 1,000 and 1,128 times in 1e16 samples a side: the exact binomial sum, 0.00589
    n = 1128 + 1000
    weights = [comb(n, k) for k in range(n + 1)]
    assert fisher_exact(1000, 10**16 - 1000, 1128, 10**16 - 1128) == pytest.approx(
        sum(w for w in weights if w <= weights[1000]) / 2**n, rel=1e-6)
    # a rate of 1e-4 in 1.4e9 samples, against a summation of the tables at 50 digits
    assert fisher_exact(68_118, 681_117_570, 67_697, 681_117_992) == pytest.approx(0.2532766835849, rel=1e-8)
    # at 1e17 and 1e18 samples, where the normal approximation is exact to 1e-6: no false difference, no overflow
    assert fisher_exact(10**14, 999 * 10**14, 99_999_983_887_445, 99_900_000_016_112_555) == pytest.approx(0.254328,
                                                                                                         rel=1e-5)
    assert fisher_exact(10**15, 999 * 10**15, 1_000_000_047_755_585, 998_999_999_952_244_415) == pytest.approx(
        0.285348, rel=1e-5)
    assert fisher_exact(5 * 10**17, 5 * 10**17, 499_999_998_310_757_366, 500_000_001_689_242_634) == pytest.approx(
        0.0168966, rel=1e-5)
    assert fisher_exact(2**62, 2**62, 2**62, 2**62) == 1.0 and fisher_exact(0, 2**62, 0, 2**62) == 1.0


def test_a_stress_tests_rare_outcome_speaks_for_both_and_its_samples_are_named_as_such():
    from synclab.reports.stats import samples_to_tell_from_never

    a = Counts(1_000_000, {"2": 999_997, "1": 3}, (), unit="samples")
    b = Counts(1_000_000, {"2": 1_000_000}, (), unit="samples")
    decision = decide(a, b)
    assert decision.verdict is Verdict.INCONCLUSIVE  # 3 against 0 cannot tell the rate from never
    [reason] = decision.reasons
    needed = samples_to_tell_from_never(3e-06, 0.05)
    assert reason.startswith("1: A 3/1000000, B 0/1000000: p = 0.25; 1000000 against 1000000 samples could not "
                             "tell a rate of 3e-06 from 0 at 0.05; ")
    assert reason.endswith(f"about {needed:,} samples a side would tell a rate of 3e-06 from 0")
    # the suggestion is enough samples to expect more than the count that would tell, and halving
    # the rate doubles it
    assert needed * 3e-06 > fewest_telling_count(1_000_000, 1_000_000, 0.05)
    assert samples_to_tell_from_never(1.5e-06, 0.05) == pytest.approx(2 * needed, rel=1e-6)
    assert samples_to_tell_from_never(0.0, 0.05) is None


def test_a_significant_p_value_is_printed_below_its_level():
    from synclab.reports.verdict import format_p

    assert format_p(0.0497) == "0.05"  # two decimals, as every table prints it
    assert format_p(0.0497, 0.05) == "0.0497"  # but a reason never reads "p = 0.05 < 0.05"
    assert format_p(0.0166, 0.05 / 3) == "0.0166" and format_p(0.2, 0.05) == "0.2"
    assert float(format_p(0.0499999, 0.05)) < 0.05
