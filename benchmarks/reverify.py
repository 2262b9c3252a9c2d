"""The answer checks replayed on a run's own model drafts: what a change to the checks
(``assistant/verify.py``, ``support.py``, the refusal rules) does to every answer,
without asking the model again.

    python benchmarks/reverify.py SET RUN [--collection NAME] [--choices] [--out FILE]

``RUN`` is an ``eval run`` folder made with drafts recorded (``draft`` in its
``results.jsonl``). For each question the model wrote a draft for, the sources it was
shown are chosen again (retrieval and evidence selection are deterministic for one
index, and take no model), and the chain's own final step (``NewsQA._finish``) checks
the draft with the code as it is now. The first line printed is the self-check: how
many replayed answers equal the run's own (all of them, with the code of the run).
Then the run's metrics beside the replay's: accuracy, answers given, wrong answers and
their share of the answers given, refusals of the answerable. Questions refused before
the model wrote (P(yes) under the threshold) keep their refusal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import build_chain, verify  # noqa: E402
from assistant.chain import _Prepared  # noqa: E402
from assistant.evidence import render_sources  # noqa: E402
from assistant.types import Timings  # noqa: E402
from eval.runner import load_results  # noqa: E402
from eval.scoring import is_correct  # noqa: E402
from eval.sets import load_set  # noqa: E402
from settings import get_settings  # noqa: E402


def metrics(records: list[dict[str, Any]]) -> dict[str, float | int]:
    answerable = [r for r in records if r["answerable"]]
    given = [r for r in records if not r["refused"]]
    wrong = [r for r in given if not r["correct"]]
    return {
        "accuracy": round(sum(bool(r["correct"]) for r in records) / len(records), 3),
        "answers_given": len(given),
        "wrong_given": len(wrong),
        "wrong_share": round(len(wrong) / len(given), 3) if given else 0.0,
        "answerable_refused": round(sum(r["refused"] for r in answerable) / len(answerable), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("set", type=Path)
    parser.add_argument("run", type=Path)
    parser.add_argument("--collection")
    parser.add_argument("--choices", action="store_true")
    parser.add_argument("--out", type=Path, help="the replayed records, as JSONL")
    parser.add_argument(
        "--anchor-share", type=float, help="verify.ANCHOR_SHARE for the replay (0: off)"
    )
    parser.add_argument("--stale-days", type=int, help="NEWSQA_STALE_DAYS for the replay (0: off)")
    args = parser.parse_args()
    if args.anchor_share is not None:
        verify.ANCHOR_SHARE = args.anchor_share
    settings = get_settings()
    if args.collection:
        settings = settings.model_copy(update={"collection": args.collection})
    if args.stale_days is not None:
        settings = settings.model_copy(update={"stale_days": args.stale_days})
    chain = build_chain(settings, progress=False)
    items = {item.id: item for item in load_set(args.set)}
    run = [r for r in load_results(args.run / "results.jsonl") if r["id"] in items]
    if any("draft" not in r for r in run):
        sys.exit(f"{args.run}: results without drafts: run eval again with this code")
    replayed, same, changed = [], 0, []
    started = time.perf_counter()
    for record in run:
        item = items[record["id"]]
        new = dict(record)
        if not _refused_before(record):
            answer = _replay(chain, item.to_question(args.choices, args.collection), record)
            new.update(
                answer=answer.answer,
                refused=answer.refused,
                citations=[c.article_id for c in answer.citations],
                quotes=[c.quote for c in answer.citations],
                correct=is_correct(
                    answer.answer,
                    answer.refused,
                    item.answer,
                    item.answerable,
                    item.choices if args.choices else (),
                ),
            )
        if (new["answer"], new["refused"]) == (record["answer"], record["refused"]):
            same += 1
        else:
            changed.append((record, new))
        replayed.append(new)
    print(
        f"replayed {len(run)} answers in {time.perf_counter() - started:.0f} s: {same} "
        f"the same as the run's, {len(changed)} changed"
    )
    print(f"{'':10} {json.dumps(metrics(run))}\n{'replay':10} {json.dumps(metrics(replayed))}")
    for before, after in changed:
        flip = {(True, False): "right -> wrong", (False, True): "wrong -> right"}.get(
            (bool(before["correct"]), bool(after["correct"])), "same score"
        )
        print(
            f"\n{before['id']} ({flip}) {before['question']}\n  gold:   {before['gold_answer']}"
            f"\n  run:    {before['answer']}\n  replay: {after['answer']}"
        )
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in replayed))


def _refused_before(record: dict[str, Any]) -> bool:
    """Refused at the check, before the model wrote (no prompt was generated from)."""
    return bool(record["refused"]) and not record["prompt_tokens"]


def _replay(chain: Any, question: Any, record: dict[str, Any]) -> Any:
    docs = chain.retrieve(question)
    sources = chain.evidence(question, docs)
    prepared = _Prepared(
        question=question,
        sources=sources,
        shown=render_sources(sources),
        retrieved=list(dict.fromkeys(d.metadata["article_id"] for d in docs)),
        timings=Timings(),
        confidence=record["confidence"],
        started=time.perf_counter(),
        messages=[],
        current_news=chain.current_news(question, docs),
    )
    return chain._finish(prepared, record["draft"])


if __name__ == "__main__":
    main()
