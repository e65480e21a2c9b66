"""PNG plots of a rescoring summary (matplotlib, Agg backend: no display needed).

- ``pass_rate_hist.png``: how many problems have each pass rate.
- ``accuracy_by_source.png``: response accuracy per data source.
- ``prm_correct_vs_incorrect.png``: PRM aggregate of correct against incorrect responses (with a PRM).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mathreward.rescore.accuracy import Summary


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - the data extra
        raise RuntimeError("plots need matplotlib: pip install 'mathreward[data]'") from e
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def write_report(summary: Summary, out_dir: Path) -> list[Path]:
    """Write the plots into ``out_dir`` (created if needed); returns the files written."""
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(summary.pass_rates, bins=[i / 10 for i in range(11)], edgecolor="black")
    ax.set_xlabel("pass rate")
    ax.set_ylabel("problems")
    ax.set_title(f"Pass rate over {summary.problems} problems")
    path = out_dir / "pass_rate_hist.png"
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)

    sources = sorted(summary.by_source.items())
    fig, ax = plt.subplots(figsize=(max(4, 1 + 0.8 * len(sources)), 4))
    names = [s for s, _ in sources]
    acc = [c / n if n else 0.0 for _, (c, n) in sources]
    bars = ax.bar(names, acc)
    for bar, (_, (_, n)) in zip(bars, sources, strict=True):
        ax.annotate(f"n={n}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("accuracy (responses)")
    ax.set_title("Accuracy by data source")
    ax.tick_params(axis="x", labelrotation=30)
    path = out_dir / "accuracy_by_source.png"
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)

    if summary.prm_correct or summary.prm_incorrect:
        fig, ax = plt.subplots(figsize=(6, 4))
        bins = [i / 20 for i in range(21)]
        if summary.prm_correct:
            ax.hist(summary.prm_correct, bins=bins, alpha=0.6, label=f"correct ({len(summary.prm_correct)})")
        if summary.prm_incorrect:
            ax.hist(
                summary.prm_incorrect, bins=bins, alpha=0.6, label=f"incorrect ({len(summary.prm_incorrect)})"
            )
        ax.set_xlabel("PRM aggregate score")
        ax.set_ylabel("responses")
        ax.set_title("PRM score: correct vs incorrect responses")
        ax.legend()
        path = out_dir / "prm_correct_vs_incorrect.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
