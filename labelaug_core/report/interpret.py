"""Chapter results in words: a short Markdown paragraph generated from each chapter's own numbers
(chapters 1, 2, 4, 5, 7, 8, 11 and 12), so that no number in the book's prose is typed by hand.

Every function takes the tables the chapter already shows and returns a string; errors and
accuracies are percentages (0-100), differences percentage points (pp), losses nats.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from labelaug_core.report.tables import METHOD_NAMES


def _name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def _listing(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- Chapter 1: error against ε and against the number of PGD steps ---

def error_curve_paragraph(eps_rows: list[dict], step_rows: list[dict], model: str = "Std") -> str:
    """Chapter 1: how the error of ``model`` grows with ε and with the number of PGD steps.

    eps_rows / step_rows: rows of :func:`labelaug_core.evaluation.metrics.error_curve` (keys ``eps``,
    ``steps``, ``pgd_err``, ``fgsm_err``; errors %) over ε at fixed steps, and over steps at fixed ε.
    States the error at the smallest and largest ε, every radius where PGD error falls as ε grows
    or where PGD is below FGSM (neither should happen for a sound attack), whether the largest
    radius reaches 95 % (a working attack nears 100 %), and the change from fewest to most steps.
    """
    parts = []
    e = pd.DataFrame(eps_rows)
    if len(e):
        e = e.sort_values("eps").reset_index(drop=True)
        first, last = e.iloc[0], e.iloc[-1]
        start = ("Without an attack (ε = 0)" if first["eps"] == 0 else f"At ε = {first['eps']:g}")
        parts.append(f"{start} the {model} model errs on **{first['pgd_err']:.1f}%** of the images; at "
                     f"ε = {last['eps']:g}, PGD-{int(last['steps'])} raises this to **{last['pgd_err']:.1f}%** "
                     f"and FGSM to {last['fgsm_err']:.1f}%.")
        falls = [f"{a:g} → {b:g}" for a, b, d in zip(e["eps"], e["eps"][1:], e["pgd_err"].diff()[1:]) if d < 0]
        parts.append("PGD error rises (or stays) with every larger ε." if not falls else
                     f"PGD error *falls* as ε grows from {_listing(falls)}: a sound attack cannot do worse with a "
                     "larger ball, so this is noise on few images or a sign of masked gradients.")
        weaker = e.loc[e["pgd_err"] < e["fgsm_err"], "eps"]
        parts.append("PGD is at least as strong as FGSM at every radius." if weaker.empty else
                     f"PGD is *below* FGSM at ε = {_listing([f'{v:g}' for v in weaker])}: the one-step attack "
                     "finding more than the iterated one is a warning sign.")
        if len(e) > 1:
            parts.append(f"At the largest radius the error {'reaches' if last['pgd_err'] >= 95 else 'stays below'} "
                         "95%" + (", as it must when the attack works." if last['pgd_err'] >= 95 else
                                  ": an attack that works drives any model towards 100% as ε grows; "
                                  "chapter 10's checks look into it."))
    s = pd.DataFrame(step_rows)
    if len(s):
        s = s.sort_values("steps").reset_index(drop=True)
        few, many = s.iloc[0], s.iloc[-1]
        parts.append(f"At ε = {few['eps']:g}, PGD-{int(few['steps'])} errs on {few['pgd_err']:.1f}% and "
                     f"PGD-{int(many['steps'])} on {many['pgd_err']:.1f}% "
                     f"({many['pgd_err'] - few['pgd_err']:+.1f} pp).")
        steps, drops = s["steps"], s["pgd_err"].diff()[1:]
        worse = [f"{int(a)} → {int(b)}" for a, b, d in zip(steps, steps[1:], drops) if d < 0]
        if worse:
            parts.append(f"More steps found *fewer* adversarial images from {_listing(worse)} steps; with one "
                         "random start per run, a drop of a few images is noise, a large one is suspicious.")
    return " ".join(parts)


# --- Chapter 2: training curves and the entropy floor of the soft target ---

def entropy_floor(delta: float) -> float:
    """``H(t) = -(1 - δ) log(1 - δ) - δ log δ`` (nats): the smallest value the label-augmentation
    loss of an adversarial image can reach (its target has mass 1 - δ and δ); 0 for δ = 0."""
    if not 0 <= delta < 1:
        raise ValueError(f"delta must be in [0, 1); got {delta}")
    return float(-sum(p * math.log(p) for p in (1 - delta, delta) if p > 0))


def training_paragraph(runs_by_method: dict) -> str:
    """Chapter 2: each regime's training loss and training error at its last epoch (mean over seeds),
    and for Adv+ the part of its loss that is the floor :func:`entropy_floor` of its δ.

    runs_by_method: ``{method: [run per seed]}``; each run has ``history`` (a table with columns
    ``train_loss``, nats, and ``train_err``, %, one row per epoch) and ``config.delta``.
    """
    final = {}
    for method, runs in runs_by_method.items():
        last = pd.DataFrame([r.history.iloc[-1][["train_loss", "train_err"]] for r in runs]).mean()
        final[method] = (float(last["train_loss"]), float(last["train_err"]), float(runs[0].config.delta))
    epochs = int(len(next(iter(runs_by_method.values()))[0].history))
    text = [f"After {epochs} epoch{'s' if epochs != 1 else ''}: " + "; ".join(
        f"{_name(m)} loss {loss:.3f} nats, training error {err:.1f}%" for m, (loss, err, _) in final.items()) + "."]
    if "advplus" in final:
        loss, _, delta = final["advplus"]
        floor = entropy_floor(delta)
        text.append(f"Adv+ (δ = {delta:g}) cannot go below H(t) = {floor:.3f} nats; above that floor its loss is "
                    f"{loss - floor:.3f} nats" + (f", against Adv's {final['adv'][0]:.3f} nats." if "adv" in final
                                                   else "."))
    return " ".join(text)


# --- Chapter 4: the weakest classes ---

def _classes(names: list[str], err: float, bold: bool = True) -> str:
    """``class **a** (12.0%)`` for one name, ``3 classes tied at 12.0% (a, b and c)`` for several
    (at most 4 named)."""
    if len(names) == 1:
        return (f"class **{names[0]}**" if bold else f"class {names[0]}") + f" ({err:.1f}%)"
    shown = _listing(names) if len(names) <= 4 else ", ".join(names[:4]) + ", ..."
    return f"{len(names)} classes tied at {err:.1f}% ({shown})"


def classwise_paragraph(frame: pd.DataFrame, table2: pd.DataFrame, metric: str = "pgd_err") -> str:
    """Chapter 4: each model's weakest and strongest class under ``metric`` (mean over seeds) and
    the gap between them, whether the models share their weakest class, and how the SD of the
    per-class errors moves from Adv to Adv+ here and in the paper.

    frame: :func:`labelaug_core.report.figures.per_class_frame` (columns ``method`` (display name),
    ``class``, ``metric``, ``err`` %, ``seed``). table2: :func:`labelaug_core.report.tables.table2`
    (index display names, columns ``(ours | paper, <metric-prefix>_class_sd)``).
    """
    per_class = frame[frame["metric"] == metric].groupby(["method", "class"], sort=False)["err"].mean()
    lines, weakest = [], {}
    for model in per_class.index.get_level_values("method").unique():
        errs = per_class.loc[model]
        if errs.max() == errs.min():
            lines.append(f"- **{model}**: every class at {errs.max():.1f}%, so no class is weaker than another.")
            continue
        worst = [str(k) for k in errs.index[errs == errs.max()]]
        best = [str(k) for k in errs.index[errs == errs.min()]]
        weakest[model] = tuple(worst)
        lines.append(f"- **{model}**: weakest {_classes(worst, errs.max())}, strongest "
                     f"{_classes(best, errs.min(), bold=False)}, a gap of {errs.max() - errs.min():.1f} pp.")
    if any(len(w) > 1 for w in weakest.values()):
        lines.append("Some models tie between several weakest classes, so no single weakest class can be named for them.")
    elif len(weakest) > 1:
        if len({w[0] for w in weakest.values()}) == 1:
            lines.append("All these models have the same weakest class.")
        else:
            lines.append(f"The models' weakest classes differ ({_listing(sorted({w[0] for w in weakest.values()}))}).")
    sd = metric.replace("_err", "_class_sd")
    if {"Adv", "Adv+"} <= set(table2.index) and ("ours", sd) in table2.columns:
        ours = table2.loc["Adv+", ("ours", sd)] - table2.loc["Adv", ("ours", sd)]
        paper = table2.loc["Adv+", ("paper", sd)] - table2.loc["Adv", ("paper", sd)]
        agree = "the same direction as" if np.sign(ours) == np.sign(paper) else "the opposite direction to"
        lines.append(f"From Adv to Adv+ the SD of the per-class errors changes by {ours:+.2f} pp here, "
                     f"{agree} the paper's {paper:+.2f} pp.")
    return "\n".join(lines)


# --- Chapter 5: the δ trade-off ---

def delta_tradeoff_paragraph(summary: pd.DataFrame) -> str:
    """Chapter 5: which δ of the sweep gives the lowest PGD-40 and the lowest clean error, how both
    move from the smallest to the largest δ (with Spearman's ρ between δ and PGD error over the
    sweep), and where the paper's δ = 0.03 stands if it was trained.

    summary: :func:`labelaug_core.report.chapter_tables.delta_summary` (index δ, columns
    ``clean_err`` and ``pgd_err`` %).
    """
    from scipy.stats import spearmanr

    s = summary.sort_index()
    low, high = s.index[0], s.index[-1]
    def lowest(column: str) -> str:
        at = s.index[s[column] == s[column].min()]
        return f"δ = **{_listing([f'{d:g}' for d in at])}** ({s[column].min():.2f}%)"

    text = [f"Lowest PGD-40 error at {lowest('pgd_err')}, lowest clean error at {lowest('clean_err')}."]
    if len(s) > 1:
        text.append(f"From δ = {low:g} to δ = {high:g}, PGD-40 error moves by "
                    f"{s.loc[high, 'pgd_err'] - s.loc[low, 'pgd_err']:+.2f} pp and clean error by "
                    f"{s.loc[high, 'clean_err'] - s.loc[low, 'clean_err']:+.2f} pp.")
    if len(s) > 2 and s["pgd_err"].nunique() > 1:
        rho = spearmanr(s.index, s["pgd_err"]).statistic
        trend = ("falls as δ grows" if rho <= -0.8 else "rises as δ grows" if rho >= 0.8
                 else "shows no steady trend in δ")
        text.append(f"Across the sweep the PGD-40 error {trend} (Spearman ρ = {rho:.2f}).")
    if 0.03 in s.index:
        rank = int(s["pgd_err"].rank(method="min").loc[0.03])
        text.append(f"The paper's δ = 0.03 ranks {rank} of {len(s)} by PGD-40 error.")
    return " ".join(text)


# --- Chapter 7: corruptions ---

def corruption_paragraph(tables: dict[str, pd.DataFrame]) -> str:
    """Chapter 7: the models in order of mCE (against the paper's order Std < Adv+ < Adv), each
    model's hardest corruption (highest CE_c), and how the error grows from the mildest to the
    harshest severity (mean over corruptions).

    tables: ``{method: E_{c,s} table}`` (:func:`labelaug_core.report.corruptions.method_tables`;
    columns ``corruption``, ``severity``, ``err`` %).
    """
    from labelaug_core.evaluation.corrupted_sets import mce

    ce = {m: mce(t) for m, t in tables.items()}
    order = sorted(ce, key=lambda m: ce[m][1])
    text = ["By mCE: " + " < ".join(f"{_name(m)} ({ce[m][1]:.2f}%)" for m in order) + "."]
    paper = [m for m in ("std", "advplus", "adv") if m in ce]
    if len(paper) > 1:
        text.append("This is the paper's order." if order == paper else
                    "The paper's order is " + " < ".join(_name(m) for m in paper) + ": this profile differs.")
    lines = []
    for m, (by_c, _) in ce.items():
        by_s = tables[m].groupby("severity")["err"].mean()
        first, last = by_s.iloc[0], by_s.iloc[-1]
        moves = "rises" if last > first else "falls" if last < first else "stays"
        lines.append(f"- **{_name(m)}**: hardest corruption **{by_c.idxmax()}** (CE {by_c.max():.1f}%), mildest "
                     f"{by_c.idxmin()} ({by_c.min():.1f}%); from severity {by_s.index[0]} to {by_s.index[-1]} the "
                     f"error {moves} from {first:.1f}% to {last:.1f}%.")
    return " ".join(text) + "\n\n" + "\n".join(lines)


# --- Chapter 8: ImageNet-ReaL and ImageNet-X ---

def imagenet_paragraph(real_table: pd.DataFrame, ratios: pd.DataFrame) -> str:
    """Chapter 8: per model (mean over seeds), ReaL error against clean error, and the ImageNet-X
    factor with the highest error ratio and how many factors exceed 1.

    real_table: :func:`labelaug_core.report.chapter_tables.real_error_table` (index (method, seed),
    columns ``clean_err``, ``real_err`` %). ratios: error ratios, one row per model (method key),
    one column per factor (NaN where no image has the factor).
    """
    real = real_table.groupby(level="method", sort=False).mean()
    lines = []
    for m, row in real.iterrows():
        line = (f"- **{_name(m)}**: ReaL error {row['real_err']:.2f}% against {row['clean_err']:.2f}% with the "
                f"original labels ({row['real_err'] - row['clean_err']:+.2f} pp)")
        if m in ratios.index:
            r = ratios.loc[m].dropna().astype(float)
            if len(r):
                line += (f"; hardest ImageNet-X factor **{r.idxmax()}** (error ratio {r.max():.2f}), "
                         f"{int((r > 1).sum())} of {len(r)} factors above 1")
        lines.append(line + ".")
    return "\n".join(lines)


# --- Chapter 11: the weakest-class defences in one sentence ---

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
