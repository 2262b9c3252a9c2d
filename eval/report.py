"""Write a run's ``summary.json``, ``report.md`` and ``report.png``, and compare two runs."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from eval.scoring import summarise

METRICS = [
    "accuracy",
    "accuracy_answerable",
    "accuracy_judged",
    "hits_at_1",
    "hits_at_5",
    "mrr_at_10",
    "answer_hits_at_5",
    "passage_recall",
    "citation_precision",
    "grounded_right_answers",
    "verified_quote_rate",
    "refusal_precision",
    "refusal_recall",
    "answerable_refused",
    "latency_p50_s",
    "latency_p95_s",
    "ttft_p50_s",
    "ttft_p95_s",
    "prompt_tokens_p50",
]


def by_group(results: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        groups[result.get("group") or "all"].append(result)
    table = {}
    for name, rows in sorted(groups.items()):
        ok = [r for r in rows if not r.get("error")]
        scored = [r for r in ok if r.get("correct") is not None]
        table[name] = {
            "questions": len(rows),
            "accuracy": sum(bool(r["correct"]) for r in scored) / len(scored) if scored else None,
            "refused": sum(bool(r["refused"]) for r in ok) / len(ok) if ok else None,
        }
    return table


def write_reports(
    out: Path, results: list[dict[str, Any]], context: dict[str, Any]
) -> dict[str, Any]:
    summary = {"metrics": summarise(results), "by_group": by_group(results), **context}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out / "report.md").write_text(_markdown(summary, results))
    _chart(out / "report.png", summary, results)
    return summary


# From 0.2: a small model's P(yes) stays far below the default model's.
SWEEP = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def refusal_curve(
    results: list[dict[str, Any]], thresholds: tuple[float, ...] = SWEEP
) -> list[tuple[float, int, float | None, float]]:
    """(threshold, refused, precision, recall) of refusing on confidence alone: where to
    set ``NEWSQA_REFUSAL_THRESHOLD`` for the model the run used."""
    rows = [r for r in results if r.get("confidence") is not None and not r.get("error")]
    unanswerable = sum(not r["answerable"] for r in rows)
    if not rows or not unanswerable:
        return []
    curve = []
    for t in thresholds:
        refused = [r for r in rows if r["confidence"] < t]
        right = sum(not r["answerable"] for r in refused)
        curve.append(
            (t, len(refused), right / len(refused) if refused else None, right / unanswerable)
        )
    return curve


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1.5 else f"{value:.1f}"
    return str(value)


def _markdown(summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
    metrics = summary["metrics"]
    lines = [
        f"# Eval: {summary.get('set', '')}",
        "",
        f"{metrics['questions']} questions, {metrics['errors']} errors; model "
        f"{summary.get('llm')}; corpus {summary.get('corpus', {})}",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {_fmt(metrics.get(name))} |" for name in METRICS]
    lines += ["", "| group | questions | accuracy | refused |", "|---|---|---|---|"]
    lines += [
        f"| {g} | {v['questions']} | {_fmt(v['accuracy'])} | {_fmt(v['refused'])} |"
        for g, v in summary["by_group"].items()
    ]
    curve = refusal_curve(results)
    if curve:
        lines += [
            "",
            "## Refusal threshold sweep",
            "",
            "Refusing whenever the model's P(the sources answer it) is below t "
            "(other refusal reasons ignored):",
            "",
            "| t | refused | precision | recall |",
            "|---|---|---|---|",
        ]
        lines += [f"| {t:.2f} | {n} | {_fmt(p)} | {_fmt(r)} |" for t, n, p, r in curve]
    accepted = [r for r in results if r.get("judged") and not r.get("correct")]
    if accepted:
        lines += [
            "",
            f"## Accepted by the judge only ({len(accepted)}; audit these)",
            "",
            "| id | gold | answer | P(yes) |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['id']} | {r.get('gold_answer')} | {_cell(r['answer'])} | {r['judge_p']:.2f} |"
            for r in accepted
        ]
    failures = [r for r in results if r.get("error") or r.get("correct") is False]
    failures.sort(key=lambda r: (not r.get("error"), r.get("gold_rank") or 99), reverse=True)
    lines += ["", f"## Failures ({len(failures)}; worst first: gold not retrieved)", ""]
    for r in failures[:25]:
        what = r.get("error") or r.get("answer", "")
        lines.append(
            f"- **{r['id']}** {r['question']}  \n  gold: {r.get('gold_answer')!s} "
            f"(answerable: {r['answerable']}, gold rank: {r.get('gold_rank')})  \n"
            f"  got: {' '.join(str(what).split())[:300]}"
        )
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split())[:200].replace("|", "\\|")


def _chart(path: Path, summary: dict[str, Any], results: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = summary["by_group"]
    names = list(groups)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    axes[0].bar(names, [groups[g]["accuracy"] or 0 for g in names], color="#3b7dd8")
    axes[0].set_title("accuracy by group")
    axes[0].set_ylim(0, 1)
    axes[1].bar(names, [groups[g]["refused"] or 0 for g in names], color="#d8843b")
    axes[1].set_title("share refused by group")
    axes[1].set_ylim(0, 1)
    latencies = [r["latency_s"] for r in results if r.get("latency_s") is not None]
    axes[2].hist(latencies, bins=20, color="#5a9e6f")
    axes[2].set_title("latency per question (s)")
    for ax in axes[:2]:
        ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def compare(dir_a: Path, dir_b: Path) -> str:
    a = json.loads((dir_a / "summary.json").read_text())
    b = json.loads((dir_b / "summary.json").read_text())
    lines = [f"{'metric':<24}{'A':>10}{'B':>10}{'change':>10}"]
    for name in METRICS:
        va, vb = a["metrics"].get(name), b["metrics"].get(name)
        change = (
            f"{vb - va:+.3f}"
            if isinstance(va, int | float) and isinstance(vb, int | float)
            else "–"
        )
        lines.append(f"{name:<24}{_fmt(va):>10}{_fmt(vb):>10}{change:>10}")
    from eval.runner import load_results

    ra = {r["id"]: r for r in load_results(dir_a / "results.jsonl")}
    rb = {r["id"]: r for r in load_results(dir_b / "results.jsonl")}
    flips = [
        (i, ra[i].get("correct"), rb[i].get("correct"))
        for i in ra.keys() & rb.keys()
        if ra[i].get("correct") is not None
        and rb[i].get("correct") is not None
        and ra[i]["correct"] != rb[i]["correct"]
    ]
    lines.append(f"\n{len(flips)} questions flipped:")
    for qid, _, now in sorted(flips):
        lines.append(f"  {'fixed ' if now else 'broke '} {qid}: {rb[qid]['question'][:90]}")
    return "\n".join(lines)
