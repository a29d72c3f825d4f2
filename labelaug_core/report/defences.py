"""Chapter 11, the weakest-class defences: the held-out split and the weakest class found on it, the
logit bias chosen, each defence's class-mean and worst-class accuracy beside published peers, the
per-class robust accuracy of every defence, and what each defence changes, in words. The defences
are evaluated in :mod:`labelaug_core.runs.defences`. Accuracies in percent, changes pp."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from labelaug_core.runs.collect import METHOD_NAMES

# The peers' class-wise fairness numbers (PAPER.md Sec. 3, from the CFA paper): CIFAR-10,
# PreAct-ResNet-18, L-inf eps 8/255, robust accuracy under AutoAttack. Accuracies in percent.
PEER_SETTING = "CIFAR-10, PreAct-ResNet-18, eps 8/255, AutoAttack (CFA paper)"


PEERS = pd.DataFrame(
    {"clean_avg_acc": [82.3, 80.8, 82.8], "clean_worst_acc": [63.9, 64.6, 71.4],
     "robust_avg_acc": [46.7, 50.1, 45.9], "robust_worst_acc": [20.1, 24.4, 25.4]},
    index=["AT (peers)", "AT + CFA (peers)", "FRL (peers)"],
)


def accuracy_summary(per_class: pd.DataFrame) -> dict[str, float]:
    """Class-mean and worst-class accuracy (%) and SD across classes (pp) from a per-class table
    with ``clean_err`` and ``pgd_err`` columns (percent): the peers' metric set plus SD."""
    out = {}
    for name, col in (("clean", "clean_err"), ("robust", "pgd_err")):
        acc = 100.0 - per_class[col].to_numpy(dtype=float)
        out |= {f"{name}_avg_acc": float(np.nanmean(acc)), f"{name}_worst_acc": float(np.nanmin(acc)),
                f"{name}_sd": float(np.nanstd(acc))}
    return out


def defence_table(per_class_by_label: dict[str, list[pd.DataFrame]], peers: bool = True) -> pd.DataFrame:
    """One row per model (mean over its per-class tables, e.g. seeds) of :func:`accuracy_summary`,
    then, with ``peers``, the peers' rows (:data:`PEERS`, a different setting: SD not reported)."""
    rows = {label: pd.DataFrame([accuracy_summary(t) for t in tables]).mean().to_dict()
            for label, tables in per_class_by_label.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    if peers:
        table = pd.concat([table, PEERS.reindex(columns=table.columns)])
    return table


def class_list(classes: str) -> list[int]:
    """Class indices of a TrainConfig ``weak_classes`` string, in its order: ``"6,2"`` -> ``[6, 2]``,
    ``""`` -> ``[]``."""
    return [int(k) for k in str(classes).split(",") if k.strip()]


def heldout_error_table(heldout: list[pd.DataFrame], class_names) -> pd.DataFrame:
    """Per-class clean and robust error (%) on the held-out split, mean over ``heldout`` (one
    :func:`labelaug_core.runs.heldout_class_errors` table per seed); one row per class name."""
    return pd.DataFrame({"clean_err": np.mean([h["clean_err"] for h in heldout], axis=0),
                         "robust_err": np.mean([h["robust_err"] for h in heldout], axis=0)}, index=list(class_names))


def weakest_class_note(heldout: pd.DataFrame, found: list[int], planned: list[int], class_names,
                       weak_classes: str) -> str:
    """Chapter 11: the held-out split (``heldout``: one :func:`labelaug_core.runs.heldout_class_errors`
    table, columns ``n`` and ``split``), the weakest class(es) ``found`` on it, and whether they are
    the classes the plan's class-weighted runs up-weight (``planned``, from the plan's
    ``weak_classes`` string)."""
    split, n = str(heldout["split"].iloc[0]), int(heldout["n"].sum())

    def named(classes):
        return ", ".join(f"{class_names[k]} ({k})" for k in classes)

    text = (f"Held-out split: {n} {split} images"
            + (" that the runs do not train on" if split == "train" else " outside the runs' test subset") + ". "
            f"Weakest class(es) by the Adv model's PGD error: **{named(found)}**. ")
    if not planned:
        return text + "The plan names no weak class, so there are no class-weighted runs to report."
    if sorted(found) == sorted(planned):
        return text + f"This is the class the plan's class-weighted runs up-weight (weak_classes = \"{weak_classes}\")."
    return text + (f"**The plan's class-weighted runs up-weight {named(planned)} instead**: their rows below defend "
                   "a class that the held-out data does not pick as the weakest.")


def bias_sentence(chosen: dict[tuple[str, int], float]) -> str:
    """Chapter 11: the logit bias chosen for each (method, seed)."""
    return "Chosen bias per model and seed: " + ", ".join(
        f"{METHOD_NAMES.get(m, m)} seed {s}: **{b:g}**" for (m, s), b in chosen.items()) + "."


def defence_class_lines(robust_acc: dict[str, np.ndarray], class_names, weak_classes=()) -> plt.Figure:
    """Per-class robust accuracy (%) of each model or defence (one line per key), the weak classes
    marked: does a defence lift the weakest class, and what do the others pay?"""
    fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    x = np.arange(len(class_names))
    for label, acc in robust_acc.items():
        ax.plot(x, acc, marker="o", label=label)
    for k in weak_classes:
        ax.axvspan(k - 0.4, k + 0.4, color="#dd8452", alpha=0.15)
    ax.set_xticks(x, list(class_names), rotation=35, ha="right", fontsize=9)
    ax.set(ylabel="robust accuracy (%)", ylim=(0, 101))
    fig.legend(fontsize=9, ncol=2, loc="outside lower center", frameon=False)  # outside the data
    return fig


def defence_robust_lines(rows: dict[str, list[pd.DataFrame]], class_names, weak_classes=()) -> plt.Figure:
    """:func:`defence_class_lines` of per-class error tables: each label's robust accuracy is
    100 - its ``pgd_err`` (%), mean over its tables (seeds); ``rows`` as for
    :func:`labelaug_core.report.defences.defence_table`."""
    robust = {label: 100 - np.mean([t["pgd_err"].to_numpy(dtype=float) for t in tables], axis=0)
              for label, tables in rows.items()}
    return defence_class_lines(robust, class_names, weak_classes=weak_classes)


def defence_changes(table: pd.DataFrame, class_names, weak: int, planned: list[int]) -> str:
    """Chapter 11: the peers' setting, the defended class(es), and for each defence row of ``table``
    (:func:`labelaug_core.report.defences.defence_table`; not the peers', not ``Adv``/``Adv+`` themselves) one
    bullet with its change (pp) against its base model (``Adv+`` for rows starting ``Adv+``, else
    ``Adv``) in worst-class and class-mean robust accuracy, robust SD and class-mean clean accuracy."""

    lines = []
    for label in table.index:
        if "peers" in label or label in ("Adv", "Adv+"):
            continue
        base = "Adv+" if label.startswith("Adv+") else "Adv"
        d = table.loc[label] - table.loc[base]
        lines.append(f"- **{label}** vs {base}: worst-class robust accuracy {d['robust_worst_acc']:+.1f} pp "
                     f"({table.loc[label, 'robust_worst_acc']:.1f}%), class-mean robust accuracy "
                     f"{d['robust_avg_acc']:+.1f} pp, robust SD {d['robust_sd']:+.1f} pp, class-mean clean accuracy "
                     f"{d['clean_avg_acc']:+.1f} pp.")
    defended = f"**{class_names[weak]}** (logit bias)" + (
        ", " + ", ".join(class_names[k] for k in planned) + " (loss weight)" if planned else "")
    return f"Peers' setting: {PEER_SETTING}.\n\nDefended class: {defended}.\n\n" + "\n".join(lines)


def defence_summary(table: pd.DataFrame) -> str:
    """Chapter 11: the defence row of ``table`` (:func:`labelaug_core.report.defences.defence_table`;
    not ``Adv``/``Adv+``, not the peers') that raises the worst-class robust accuracy most over its
    base model, and what it costs in class-mean clean and robust accuracy (pp)."""
    rows = [label for label in table.index if "peers" not in label and label not in ("Adv", "Adv+")]
    if not rows:
        return "No defence was evaluated."
    gains = {}
    for label in rows:
        base = "Adv+" if label.startswith("Adv+") else "Adv"
        gains[label] = (table.loc[label] - table.loc[base], base)
    best = max(gains, key=lambda label: gains[label][0]["robust_worst_acc"])
    d, base = gains[best]
    if d["robust_worst_acc"] <= 0:
        return ("None of the defences raises the worst class's robust accuracy above its base model's "
                f"(the best, {best}, changes it by {d['robust_worst_acc']:+.1f} pp).")
    return (f"The largest gain for the worst class comes from **{best}**: {d['robust_worst_acc']:+.1f} pp of "
            f"worst-class robust accuracy over {base}, at {d['clean_avg_acc']:+.1f} pp of class-mean clean and "
            f"{d['robust_avg_acc']:+.1f} pp of class-mean robust accuracy.")


# --- Chapter 12: the benchmarks ---
