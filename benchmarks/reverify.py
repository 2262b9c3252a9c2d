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
from assistant.claims import ClaimCheck  # noqa: E402
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
    parser.add_argument(
        "--claim-threshold",
        type=float,
        help="NEWSQA_CLAIM_THRESHOLD for the replay (0: off; above it, the model is loaded)",
    )
    parser.add_argument(
        "--claims-cache",
        type=Path,
        help="a JSONL file of the claim checks' P(yes), read and added to: a replay at "
        "another threshold asks the model only for pairs not in it",
    )
    args = parser.parse_args()
    if args.anchor_share is not None:
        verify.ANCHOR_SHARE = args.anchor_share
    settings = get_settings()
    if args.collection:
        settings = settings.model_copy(update={"collection": args.collection})
    if args.stale_days is not None:
        settings = settings.model_copy(update={"stale_days": args.stale_days})
    if args.claim_threshold is not None:
        settings = settings.model_copy(update={"claim_threshold": args.claim_threshold})
    if args.claims_cache:
        _cache_claims(args.claims_cache)
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
                claims_s=answer.timings.claims_s,
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


def _cache_claims(path: Path) -> None:
    """The claim checks' probabilities kept in ``path`` by (claim, text): the same
    pair gets the same P(yes) from the model, so a replay at a higher threshold asks
    only for the texts it tries beyond those a lower one tried."""
    known: dict[tuple[str, str], tuple[float, float]] = {}  # (P(yes), seconds it took)
    if path.exists():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            known[(row["claim"], row["text"])] = (row["p"], row["s"])
    asked = ClaimCheck.probability

    def probability(self: ClaimCheck, claim: str, text: str) -> float:
        key = (claim, text)
        if key in self.seen:
            return self.seen[key]
        if key not in known:
            before = self.seconds
            p = asked(self, claim, text)
            known[key] = (p, self.seconds - before)
            with path.open("a") as out:
                row = {"claim": claim, "text": text, "p": p, "s": known[key][1]}
                out.write(json.dumps(row) + "\n")
        else:  # the time the model took for it, as if asked again
            self.seen[key] = known[key][0]
            self.seconds += known[key][1]
        return known[key][0]

    ClaimCheck.probability = probability  # type: ignore[method-assign]


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
