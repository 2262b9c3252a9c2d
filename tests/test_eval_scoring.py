from pathlib import Path
from typing import Any

import pytest

from eval.report import refusal_curve
from eval.scoring import is_correct, names, normalise, percentile, rank_of_gold, summarise
from eval.sets import SetError, load_set


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("Thirteen officers died [1].", "13"),
        ("13 officers died.", "thirteen"),
        ("It cost $1,200,000 in total.", "1200000"),
        ("The Europe Union will require it", "Europe"),
        ("She was Ivonne Gallegos Carreno.", "Ivonne Gallegos Carreño"),
        (
            "A Ban on military-style assault weapons was left out.",
            "Ban on military-style assault weapons",
        ),
    ],
)
def test_answer_names_gold_after_normalising(answer: str, gold: str) -> None:
    assert names(answer, gold)


def test_short_gold_must_appear_whole_and_long_gold_needs_most_content_words() -> None:
    assert not names("About 130 people", "13")
    assert normalise("The 1,000 U.S. troops") == ["1000", "u", "s", "troops"]
    gold = "it's possible to attack an agent of the state without consequences"
    assert names("He said attacking an agent of the state is possible without consequences", gold)
    assert not names("He said the state must respond", gold)


def test_correctness_rules() -> None:
    choices = ["Europe", "North America", "Asia", "Africa"]
    assert is_correct("Europe [1].", False, "Europe", True, choices)
    assert not is_correct("Europe or Asia [1].", False, "Europe", True, choices)  # hedging
    assert not is_correct("Europe", True, "Europe", True, choices)  # refused
    assert is_correct("The indexed articles don't say.", True, "x", False)
    assert not is_correct("Canberra.", False, None, False)
    assert is_correct("x", False, None, True) is None


def test_open_answers_may_mention_other_choices_in_passing() -> None:
    # The model never saw the choices in open mode: "Singapore" here is context.
    answer = "Sri Lanka plunged into chaos and its president fled to Singapore [1]."
    assert is_correct(answer, False, "Sri Lanka", True)
    assert not is_correct(answer, False, "Sri Lanka", True, ["Sri Lanka", "Singapore"])
    assert is_correct("New Jersey and Oregon [1].", False, "New Jersey & Oregon", True)


def test_rank_of_gold_counts_aliases() -> None:
    aliases = {"a": {"a-newsletter-link"}}
    assert rank_of_gold(["z", "a"], ["a-newsletter-link"], aliases) == 2
    assert rank_of_gold(["z"], ["a"], aliases) is None


def _result(**kw: object) -> dict[str, object]:
    base = {
        "id": "x",
        "answerable": True,
        "gold_sources": ["g"],
        "refused": False,
        "correct": True,
        "gold_rank": 1,
        "citation_gold": [True],
        "citation_quoted": [True],
        "latency_s": 10.0,
        "ttft_s": 5.0,
        "prompt_tokens": 300,
    }
    return {**base, **kw}


def test_summary_metrics() -> None:
    results = [
        _result(id="1"),
        _result(
            id="2",
            correct=False,
            gold_rank=4,
            citation_gold=[False, True],
            citation_quoted=[True, False],
            latency_s=20.0,
        ),
        _result(
            id="3",
            answerable=False,
            gold_sources=[],
            refused=True,
            correct=True,
            gold_rank=None,
            citation_gold=[],
            citation_quoted=[],
        ),
        _result(id="4", refused=True, correct=False, gold_rank=None, citation_gold=[]),
        _result(id="5", error="boom"),
    ]
    m = summarise(results)
    assert (m["questions"], m["errors"]) == (5, 1)
    assert m["accuracy"] == 0.5 and m["accuracy_answerable"] == pytest.approx(1 / 3, abs=1e-3)
    assert m["hits_at_1"] == pytest.approx(1 / 3, abs=1e-3) and m["hits_at_5"] == pytest.approx(
        2 / 3, abs=1e-3
    )
    assert m["mrr_at_10"] == pytest.approx((1 + 0.25) / 3, abs=1e-3)
    assert m["citation_precision"] == pytest.approx(2 / 3, abs=1e-3)
    assert m["grounded_right_answers"] == 1.0 and m["verified_quote_rate"] == 0.6667
    assert (m["refusal_precision"], m["refusal_recall"]) == (0.5, 1.0)
    assert m["answerable_refused"] == pytest.approx(1 / 3, abs=1e-3)
    assert m["latency_p50_s"] == 10.0 and percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5


def test_set_loading_keeps_unknown_fields_and_names_bad_lines(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"question": "Q?", "answer": "A", "team": "sports"}\n\n'
        '{"id": 7, "question": "R?", "answerable": false}\n'
    )
    items = load_set(good)
    assert [i.id for i in items] == ["q1", "7"] and items[0].model_extra == {"team": "sports"}
    assert items[1].group == "unanswerable"
    bad = tmp_path / "bad.jsonl"
    for text, message in [
        ('{"question": "Q?", "answer": "A"}\n{"question": "R?"\n', "bad.jsonl:2: invalid JSON"),
        ('{"question": "Q?"}\n', "bad.jsonl:1: field 'answer' is required"),
        ('{"question": "Q?", "answer": "A", "date": "soon"}\n', "bad.jsonl:1: field 'date'"),
        ('{"answer": "A"}\n', "bad.jsonl:1: field 'question'"),
    ]:
        bad.write_text(text)
        with pytest.raises(SetError, match=message):
            load_set(bad)


def test_refusal_sweep_spans_a_small_models_confidences() -> None:
    # A 0.5B model's P(yes) stays under 0.45: the sweep must reach down to it.
    results: list[dict[str, Any]] = [
        {"confidence": 0.22, "answerable": False},
        {"confidence": 0.31, "answerable": True},
        {"confidence": 0.33, "answerable": False},
        {"confidence": 0.41, "answerable": True},
        {"confidence": None, "answerable": True},  # refused before the model was asked
    ]
    curve = {t: (n, p, r) for t, n, p, r in refusal_curve(results)}
    assert curve[0.25] == (1, 1.0, 0.5)
    assert curve[0.35] == (3, pytest.approx(2 / 3), 1.0)
    assert curve[0.8] == (4, 0.5, 1.0)
    assert refusal_curve([{"confidence": 0.9, "answerable": True}]) == []
