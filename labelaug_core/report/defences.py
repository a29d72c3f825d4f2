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
        return ", ".join(str(class_names[k]) for k in classes)

    text = (f"Held-out split: {n} {split} images"
            + (" that the runs do not train on" if split == "train" else " outside the runs' test subset") + ". "
            f"Weakest class(es) by the Adv model's PGD error: **{named(found)}**. ")
    if not planned:
        return text + "The plan names no weak class, so there are no class-weighted runs to report."
    if sorted(found) == sorted(planned):
        return text + (f"This is the class the plan's class-weighted runs up-weight (weak_classes = \"{weak_classes}\": "
                       f"{named(planned)}).")
    return text + (f"**The plan's class-weighted runs up-weight {named(planned)} instead**: their rows below defend "
                   "a class that the held-out data does not pick as the weakest.")


def bias_sentence(chosen: dict[tuple[str, int], float]) -> str:
    """Chapter 11: the logit bias chosen for each (method, seed), and which models it leaves unchanged
    (bias 0 on every seed: :func:`zero_bias_labels`)."""
    text = "Chosen bias per model and seed: " + ", ".join(
        f"{METHOD_NAMES.get(m, m)} seed {s}: **{b:g}**" for (m, s), b in chosen.items()) + "."
    zero = [label.removesuffix(", logit bias") for label in zero_bias_labels(chosen)]
    if zero:
        text += (f" For {_and(zero)} the held-out images choose bias 0: no change, so the logit bias is not a "
                 "different defence there and the table below leaves its row out.")
    return text


def _base(label: str) -> str:
    """The base model of a defence row: ``Adv+`` for rows starting ``Adv+``, else ``Adv``."""
    return "Adv+" if label.startswith("Adv+") else "Adv"


def _is_defence(label: str) -> bool:
    return "peers" not in label and label not in ("Adv", "Adv+")


def zero_bias_labels(chosen: dict[tuple[str, int], float]) -> list[str]:
    """The logit-bias row labels (``"Adv, logit bias"``, ``"Adv+, logit bias"``) whose chosen bias is 0
    on every seed: those models are their base model, unchanged."""
    by_method: dict[str, list[float]] = {}
    for (method, _), b in chosen.items():
        by_method.setdefault(method, []).append(float(b))
    return [f"{METHOD_NAMES.get(m, m)}, logit bias" for m, bs in by_method.items() if all(b == 0 for b in bs)]


def shown_rows(rows: dict[str, list[pd.DataFrame]], chosen: dict[tuple[str, int], float]) -> dict[str, list[pd.DataFrame]]:
    """``rows`` without the logit-bias models whose chosen bias is 0 on every seed (:func:`zero_bias_labels`):
    they are copies of their base model and are not shown as a different defence."""
    drop = set(zero_bias_labels(chosen))
    return {label: tables for label, tables in rows.items() if label not in drop}


def bias_grid_table(grids: pd.DataFrame, class_names) -> pd.DataFrame:
    """:func:`labelaug_core.runs.defences.bias_choices`' candidates' table with the worst class by
    name (column ``worst_class``) instead of its index."""
    out = grids.copy()
    if "worst_class" in out:
        out["worst_class"] = [class_names[int(k)] for k in out["worst_class"]]
    return out


def defence_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`defence_table` for display: one decimal, a dash where a value is missing (the peers
    do not report the SD across classes)."""
    return table.apply(lambda col: col.map(lambda v: "–" if pd.isna(v) else f"{v:.1f}"))


# Below this change (pp) a class's accuracy counts as unchanged in the words (one decimal shown).
CHANGE_PP = 0.05
# With fewer attacked images per class than this, the words warn that a class's change is not an effect
# on its own (one image moves its accuracy by more than 5 pp); chapter 9 uses the same rule.
MIN_CLASS_IMAGES = 20


def class_moves(rows: dict[str, list[pd.DataFrame]], class_names) -> dict[str, dict]:
    """For each defence of ``rows`` (:func:`labelaug_core.runs.defences.defence_rows`; not ``Adv``/``Adv+``)
    against its base model (``Adv+`` for labels starting ``Adv+``, else ``Adv``), per class (by name):
    robust and clean accuracy (%, 100 - ``pgd_err`` / ``clean_err``, mean over seeds) of the base and
    of the defence and their change (pp), and the worst class(es) by robust accuracy before and after
    (all tied classes). Returns ``{label: {"base", "robust_before", "robust_after", "robust_change",
    "clean_change", "worst_before", "worst_after", "worst_before_acc", "worst_after_acc"}}``
    (Series indexed by class name; NaN for a class without images is dropped)."""
    names = list(class_names)

    def acc(tables, col):
        return pd.Series(100.0 - np.mean([t[col].to_numpy(dtype=float) for t in tables], axis=0), index=names)

    out = {}
    for label, tables in rows.items():
        if not _is_defence(label):
            continue
        base = _base(label)
        rb, ra = acc(rows[base], "pgd_err").dropna(), acc(tables, "pgd_err").dropna()
        cb, ca = acc(rows[base], "clean_err"), acc(tables, "clean_err")
        out[label] = {"base": base, "robust_before": rb, "robust_after": ra, "robust_change": (ra - rb).dropna(),
                      "clean_change": (ca - cb).dropna(),
                      "worst_before": [k for k in rb.index if rb[k] == rb.min()],
                      "worst_after": [k for k in ra.index if ra[k] == ra.min()],
                      "worst_before_acc": float(rb.min()), "worst_after_acc": float(ra.min())}
    return out


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _changes(change: pd.Series, sign: int, most: int = 3) -> str:
    """The classes whose ``change`` (pp) has ``sign`` (beyond :data:`CHANGE_PP`), largest first, by
    name, e.g. ``"Pullover -40.0 pp and Coat -35.0 pp"``; "" if none."""
    picked = change[change * sign >= CHANGE_PP].sort_values(ascending=sign < 0)
    parts = [f"{k} {v:+.1f} pp" for k, v in picked.iloc[:most].items()]
    if len(picked) > most:
        rest = len(picked) - most
        parts.append(f"{rest} more class{'es' if rest > 1 else ''} ({picked.iloc[most:].sum():+.1f} pp in all)")
    return _and(parts) if parts else ""


def _tied(classes: list[str], acc: float, most: int = 3) -> str:
    """The worst class(es) at ``acc`` (%): named when at most ``most``, else counted."""
    if len(classes) > most:
        return f"{len(classes)} classes tied at {acc:.1f}%"
    return f"{_and(classes)} ({'tied at ' if len(classes) > 1 else ''}{acc:.1f}%)"


def worst_change(before: list[str], after: list[str], acc_before: float, acc_after: float) -> str:
    """How the set of worst classes (all tied at the lowest robust accuracy) changed, in words:
    moved to other classes, or classes left or joined the tied group."""
    left, joined = [k for k in before if k not in after], [k for k in after if k not in before]
    if not joined:
        return (f"{_and(left)} {'is' if len(left) == 1 else 'are'} no longer among the worst, but "
                f"{_tied(after, acc_after)} remain{'s' if len(after) == 1 else ''} the worst")
    if not left:
        return f"{_and(joined)} joined the worst class{'es' if len(before) > 1 else ''}: now {_tied(after, acc_after)}"
    if len(before) > 3 or len(after) > 3:
        return (f"the worst classes changed from {_tied(before, acc_before)} to {_tied(after, acc_after)} "
                f"({_and(left)} left, {_and(joined)} joined)")
    return f"the worst class moved from {_tied(before, acc_before)} to {_tied(after, acc_after)}"


def _verb(d: float) -> str:
    return "rose" if d >= CHANGE_PP else "fell" if d <= -CHANGE_PP else "did not change"


def move_sentence(label: str, m: dict) -> str:
    """One Markdown bullet of :func:`class_moves`' entry ``m`` for defence ``label``: which classes
    gained and which lost robust accuracy (pp, by name), whether the worst class changed identity,
    what that did to worst-class accuracy, and the clean accuracy's largest changes."""
    rc, cc = m["robust_change"], m["clean_change"]
    d_worst = m["worst_after_acc"] - m["worst_before_acc"]
    if (rc.abs() < CHANGE_PP).all() and (cc.abs() < CHANGE_PP).all():
        return (f"- **{label}** vs {m['base']}: no class's robust or clean accuracy changes; the worst class stays "
                f"{_and(m['worst_before'])} ({m['worst_before_acc']:.1f}%).")
    gains, losses = _changes(rc, 1), _changes(rc, -1)
    if gains and losses:
        moved = f"robust accuracy {gains}, but {losses}"
    elif gains:
        moved = f"robust accuracy {gains}; no class loses robust accuracy"
    elif losses:
        moved = f"no class gains robust accuracy; {losses}"
    else:
        moved = "no class's robust accuracy changes"
    before, after = m["worst_before"], m["worst_after"]
    by = f" by {d_worst:+.1f} pp" if abs(d_worst) >= CHANGE_PP else ""
    if set(before) != set(after):
        old_gain = float(rc.reindex(before).dropna().min()) if rc.reindex(before).notna().any() else 0.0
        worst = (worst_change(before, after, m["worst_before_acc"], m["worst_after_acc"])
                 + f", so worst-class robust accuracy {_verb(d_worst)}{by}"
                 + (f" while {_and(before)} itself gained {old_gain:+.1f} pp"
                    if len(before) <= 3 and old_gain >= CHANGE_PP and old_gain - d_worst >= CHANGE_PP else ""))
    else:
        worst = (f"the worst class stays {_tied(after, m['worst_after_acc'])}; worst-class robust accuracy "
                 f"{_verb(d_worst)}{by}")
    clean = "; ".join(p for p in (_changes(cc, 1, most=2), _changes(cc, -1, most=2)) if p) or "no class changes"
    return f"- **{label}** vs {m['base']}: {moved}; {worst}. Clean accuracy: {clean}."


def error_moves(moves: dict[str, dict], chosen: dict[tuple[str, int], float] | None = None,
                class_counts=None) -> str:
    """Chapter 11: where each defence moved the errors (:func:`move_sentence` per entry of
    :func:`class_moves`); a logit-bias model whose held-out choice was bias 0 on every seed
    (:func:`zero_bias_labels` of ``chosen``) is said to be unchanged instead, and left out of the table.
    ``class_counts``: the attacked test images per class and seed (e.g.
    :func:`labelaug_core.runs.defences.attacked_class_counts`); with it, a last line says on how many
    images each class's robust accuracy rests and how far one image moves it."""
    zero = set(zero_bias_labels(chosen or {}))
    lines = []
    for label, m in moves.items():
        if label in zero:
            lines.append(f"- **{label}**: bias 0 chosen on the held-out images: no change, the model is "
                         f"{m['base']} itself (not shown as a defence in the table).")
        else:
            lines.append(move_sentence(label, m))
    text = "\n".join(lines)
    if class_counts is not None and len(class_counts):
        low, high = int(np.min(class_counts)), int(np.max(class_counts))
        text += (f"\n\nEach class's robust accuracy rests on {low if low == high else f'{low} to {high}'} attacked "
                 f"test images per seed" + (f", so one image moves it by {100 / low:.1f} pp" if low > 0 else "")
                 + (f": with fewer than {MIN_CLASS_IMAGES} images a class's change is not an effect on its own."
                    if low < MIN_CLASS_IMAGES else "."))
    return text


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


def defence_summary(table: pd.DataFrame, moves: dict[str, dict] | None = None) -> str:
    """Chapter 11: the defence row of ``table`` (:func:`labelaug_core.report.defences.defence_table`;
    not ``Adv``/``Adv+``, not the peers') that raises the worst-class robust accuracy most over its
    base model, and what it costs in class-mean clean and robust accuracy (pp). With ``moves``
    (:func:`class_moves`), the defences that moved the worst class to another class are named, so
    an unchanged worst-class accuracy is not read as "nothing changed"."""
    rows = [label for label in table.index if _is_defence(label)]
    if not rows:
        return "No defence was evaluated."
    gains = {label: (table.loc[label] - table.loc[_base(label)], _base(label)) for label in rows}
    best = max(gains, key=lambda label: gains[label][0]["robust_worst_acc"])
    d, base = gains[best]
    traded = [label for label, m in (moves or {}).items()
              if label in rows and (m["robust_change"] >= CHANGE_PP).any() and (m["robust_change"] <= -CHANGE_PP).any()]
    tail = ""
    if traded:
        tail = (" " + "; ".join(f"{label} changes robust accuracy by {_changes(moves[label]['robust_change'], 1)}, "
                                f"but {_changes(moves[label]['robust_change'], -1)}" for label in traded)
                + ": errors moved between classes rather than disappearing (details below the figure).")
    if d["robust_worst_acc"] < CHANGE_PP:
        return ("None of the defences raises the worst class's robust accuracy above its base model's "
                f"(the best, {best}, changes it by {d['robust_worst_acc']:+.1f} pp)." + tail)
    return (f"The largest gain for the worst class comes from **{best}**: {d['robust_worst_acc']:+.1f} pp of "
            f"worst-class robust accuracy over {base}, at {d['clean_avg_acc']:+.1f} pp of class-mean clean and "
            f"{d['robust_avg_acc']:+.1f} pp of class-mean robust accuracy." + tail)


# --- Chapter 12: the benchmarks ---
