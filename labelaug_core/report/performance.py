"""Chapter 12, performance: what the page shows of each benchmark result (headings, notes and the
tables of :mod:`labelaug_core.bench.results`), the speed-ups in words, and what it says without a GPU
result."""
from __future__ import annotations


def bench_report(results: dict[str, dict]) -> list:
    """What the performance chapter shows of each benchmark result (``{file name: result}``,
    :func:`labelaug_core.bench.load_results`), in order: IPython ``Markdown`` headings and notes and
    the tables of :mod:`labelaug_core.bench.results`; ``display(*bench_report(results))`` shows them."""
    from IPython.display import Markdown

    from labelaug_core.bench.results import (
        attack_frame,
        epoch_frame,
        result_summary,
        targets_frame,
    )

    items: list = []
    for path, result in results.items():
        items.append(Markdown(f"## {result_summary(result)}\n\nFile `{path}`."))
        for section in result["attacks"]:
            b, c, h, _ = section["input"]
            items.append(Markdown(
                f"**PGD-{section['steps']}, {section['model']}** ({c}x{h}x{h}, batch {b}; median of "
                f"{section['repeats']}): images per second, the speed-up over torchattacks and ART, the share "
                "of the bare passes' time (`% floor`) and of the measured matrix peak."))
            items.append(attack_frame(section))
        epoch = result["epoch"]
        items.append(Markdown(f"**One PGD-{epoch['steps']} adversarial-training epoch**, small CNN, {epoch['images']} "
                              f"Fashion-MNIST images, batch {epoch['batch']} (median of {epoch['repeats']}):"))
        items.append(epoch_frame(epoch))
        targets = targets_frame(result)
        items += [Markdown("**Against the project's targets:**"), targets]
        missed = targets[~targets["met"]]
        if len(missed):
            items.append(Markdown(
                "Missed: " + "; ".join(f"{name} {row.measured:.2f}x (target {row.target:g}x)"
                                       for name, row in missed.iterrows())
                + ". `% floor` shows where the time goes: at about 100 %, this project's attack costs what "
                  "its forward and input-backward passes cost and nothing else, so what is left is in the "
                  "passes themselves (see `benchmarks/README.md`)."))
        else:
            items.append(Markdown("Every target is met in this run."))
    return items


def has_gpu_result(results: dict[str, dict]) -> bool:
    """Whether any benchmark result was measured on a CUDA device."""
    return any(str(r["env"]["device"]).startswith("cuda") for r in results.values())


def bench_paragraph(results: dict[str, dict]) -> str:
    """Chapter 12: per benchmark result (``{file name: result}``, :func:`labelaug_core.bench.results.load_results`),
    the fast path's PGD speed-up over torchattacks.PGD on each model, its share of the bare passes'
    time (``% floor``), and the training epoch's speed-up over the reference loop; then, with more
    than one result, the range of the small-CNN speed-up across them (a property of the machine too).
    """
    lines, small = [], []
    for path, result in results.items():
        env = result["env"]
        device = env.get("device_name") or f"{env.get('cpu', 'CPU')}, {env.get('threads', '?')} thread(s)"
        parts = []
        for section in result["attacks"]:
            fast = next((r for r in section["rows"] if r["case"] == "labelaug fast"), None)
            if fast is None or "x_torchattacks.PGD" not in fast:
                continue
            parts.append(f"{section['model']} {fast['x_torchattacks.PGD']:.1f}x ({fast['pct_of_floor']:.0f}% of floor)")
            if section["model"] == "small-cnn":
                small.append(fast["x_torchattacks.PGD"])
        epoch = result.get("epoch", {})
        train = next((r for r in epoch.get("rows", []) if r["case"] == "labelaug train"), None)
        ref = next((r for r in epoch.get("rows", []) if r["case"] == "reference loop"), None)
        line = f"- **{device}** ({result['date'][:10]}): PGD-10 fast path vs torchattacks.PGD: " + (
            ", ".join(parts) if parts else "not measured")
        if train and ref:
            line += (f"; a PGD-{epoch['steps']} training epoch {ref['median_s'] / train['median_s']:.1f}x faster "
                     f"than the reference loop, at {train['pct_of_floor']:.0f}% of its floor")
        lines.append(line + ".")
    text = "\n".join(lines)
    text += ("\n\nA share of floor near 100% means the attack costs what its forward and input-backward passes "
             "cost: the remaining time is in the passes themselves.")
    if len(small) > 1:
        text += (f" The small-CNN speed-up ranges from {min(small):.1f}x to {max(small):.1f}x across the "
                 f"{len(small)} results: a speed-up depends on the machine as well as on the code.")
    return text


def no_gpu_result_text() -> str:
    """Chapter 12 without a CUDA benchmark result: the "GPUs" heading and a paragraph saying that
    none is made up and which command and file would provide one."""
    return (
        "## GPUs\n\nNo GPU result yet: the machine this book was built on has none, and none is "
        "made up. The CUDA path of the same command (CUDA events, full batches, the whole "
        "Fashion-MNIST epoch, the model's FLOP/s as a share of a measured bf16 matmul peak) "
        "writes `benchmarks/results/cuda-<gpu>-<date>.json`, and this page shows it beside the "
        "CPU results."
    )
