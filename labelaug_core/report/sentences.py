"""The sentences the chapters state, generated from their numbers (δ control, corruptions, class-wise
robustness after Tian et al. 2021, the attack ladder, Temperature-PGD, weakest-class defences)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from labelaug_core.evaluation.ladder import LADDER, StrongEval
from labelaug_core.report.tables import METHOD_NAMES
from labelaug_core.report.verdict import (
    gain_vulnerability,
    ladder_table,
)


def delta_control_lines(sweep: dict, adv_runs: list) -> str:
    """Chapter 5's claims, one Markdown bullet each: Adv+ with δ = 0 (the control: the same K + M
    model and training, no label augmentation) against Adv, then each other δ against δ = 0: the
    PGD-40 error difference, paired by image and seed
    (:func:`~labelaug_core.report.comparisons.compare_runs`, McNemar per seed, the t interval over
    seeds). ``sweep``: {δ: [run per seed]} (:func:`~labelaug_core.report.chapter_tables.delta_sweep_runs`);
    ``adv_runs``: Adv's runs, one per seed. Without a δ = 0 run, one sentence saying there is no control."""
    from labelaug_core.report.comparisons import compare_runs, difference_words

    if 0.0 not in sweep:
        return "The sweep has no δ = 0 run, so there is no control to compare with."
    lines = [f"- Adv+ δ = 0 vs Adv: {difference_words(compare_runs(adv_runs, sweep[0.0]), 'Adv', 'δ = 0', 'PGD-40 error')}"]
    lines += [f"- Adv+ δ = {d:g} vs δ = 0: "
              f"{difference_words(compare_runs(sweep[0.0], runs), 'δ = 0', f'δ = {d:g}', 'PGD-40 error')}"
              for d, runs in sorted(sweep.items()) if d != 0.0]
    return "\n".join(lines)


def corruption_source_note(source: str, dataset: str, n_scored: int) -> str:
    """Chapter 7: what the corrupted images are (``source``: :func:`labelaug_core.runs.corruption_source`),
    and whether that is the paper's ImageNet-C benchmark, on ``n_scored`` images of ``dataset``.
    An empty ``source`` (no corruption table made with the arguments asked about) is a ValueError:
    the note would otherwise guess."""
    if not source:
        raise ValueError("corruption_source_note: empty source; ask corruption_source with the arguments of "
                         "corruption_eval (n_images, seed, data_dir, imagenet_c_dir)")
    constants = "CIFAR-10-C" if "CIFAR-10-C" in source else "ImageNet-C"
    side = source.split(", ")[-1]
    if source.startswith("ImageNet-C files"):
        how = (f"the released ImageNet-C images of the same {n_scored} validation images that were scored clean "
               f"({source}): the paper's benchmark, on a subset when fewer than 50,000 images are scored.")
    elif dataset == "imagenet" and constants == "ImageNet-C":
        how = (f"the ImageNet-C recipe (the `imagecorruptions` package with ImageNet-C's severity constants) applied to "
               f"the {n_scored} {side} centre crops that the models see. Close to the paper's benchmark, not identical: "
               f"the released ImageNet-C files were made once, with their own random draws, and saved as JPEG.")
    else:
        how = (f"{n_scored} test images of **{dataset}** ({side}), corrupted with the **{constants}** severity "
               f"constants. **This is not the paper's benchmark**: the paper's mCE is on ImageNet-C, that is 224 px "
               f"ImageNet validation images with ImageNet-C's constants, and a ResNet-50"
               + ("; ImageNet-C's constants would wipe out so small an image, so CIFAR-10-C's are used"
                  if constants == "CIFAR-10-C" else "")
               + ". Compare the *order* of the three methods and the *direction* of the changes, not the numbers.")
    return "**Corrupted images:** " + how


def factor_counts_text(counts: pd.Series) -> str:
    """``"factor n, factor n, ..."``: how many evaluated images carry each ImageNet-X factor."""
    return ", ".join(f"{factor} {int(n)}" for factor, n in counts.items())


def class_spread_sentence(acc: pd.DataFrame) -> str:
    """Chapter 9: for each model, the spread (pp) between its most and least robust class, with the
    two classes. ``acc``: :func:`~labelaug_core.report.tables.class_accuracy_table` (columns
    (model, "clean" | "PGD-<k>"), accuracy %)."""
    parts = []
    for model in acc.columns.get_level_values(0).unique():
        attack = next(c for c in acc[model].columns if c != "clean")
        robust = acc[(model, attack)]
        parts.append(f"{model} **{robust.max() - robust.min():.1f} pp** (best {robust.idxmax()} {robust.max():.1f}%, "
                     f"worst {robust.idxmin()} {robust.min():.1f}%)")
    return f"Spread between the most and the least robust class under {attack}: " + "; ".join(parts) + "."


def top_flow_sentence(flows: dict[str, pd.DataFrame]) -> str:
    """Chapter 9: each model's most frequent adversarial flow (true class -> class it is sent to,
    share % of that class's attacked images); ``flows`` as from
    :func:`~labelaug_core.report.tables.adversarial_flow_tables`."""
    parts = []
    for method, f in flows.items():
        name = METHOD_NAMES.get(method, method)
        if len(f):
            top = f.iloc[0]
            parts.append(f"{name}: **{top['true']} → {top['sent to']}** ({top['share_%']:.0f}% of the "
                         f"{top['true']} images attacked)")
        else:
            parts.append(f"{name}: no adversarial errors")
    return "The most frequent flow of each model: " + "; ".join(parts) + "."


def tian_comparison(r: float) -> str:
    """How a Pearson r between per-class robust accuracy and weight-row norm compares with Tian et al.
    (who report a positive correlation): ``|r| < 0.3`` is called weak; NaN undefined."""
    if np.isnan(r):
        return "undefined"
    if r >= 0.3:
        return "positive, as Tian et al. report"
    if r <= -0.3:
        return "negative, the opposite of Tian et al."
    return "weak (|r| < 0.3)"


def weight_norm_sentence(correlations: pd.DataFrame) -> str:
    """Chapter 9: each model's Pearson r (mean over seeds) between robust accuracy and weight-row norm,
    worded by :func:`tian_comparison`. ``correlations``: index (model, seed), column ``pearson_r``."""
    mean_r = correlations.groupby(level="model", sort=False)["pearson_r"].mean()
    return ("Pearson r between robust accuracy and weight-row norm (mean over seeds): "
            + "; ".join(f"{m} **{r:.2f}** ({tian_comparison(r)})" for m, r in mean_r.items()) + ".")


def ladder_tables(strong: dict[str, list[StrongEval]], class_names) -> dict[str, pd.DataFrame]:
    """:func:`ladder_table` of each method's evaluations (``{method: [StrongEval per seed]}``)."""
    return {m: ladder_table(evals, class_names) for m, evals in strong.items()}


def gain_table(ladders: dict[str, pd.DataFrame], reference: str = "fgsm") -> pd.DataFrame:
    """:func:`gain_vulnerability` of every model's ladder in one table, index (model, rung)."""
    return pd.concat({METHOD_NAMES.get(m, m): gain_vulnerability(l, reference).set_index("rung")
                      for m, l in ladders.items()}, names=["model", "rung"])


def climb_sentences(gains: pd.DataFrame, reference: str = "fgsm") -> str:
    """Chapter 9: for each model of ``gains`` (:func:`gain_table`), one bullet on the climb from
    ``reference`` to the ensemble: the mean rise of class error (pp) and whether it falls mainly on
    the more vulnerable half of the classes (share >= 60%), the more robust half (<= 40%) or evenly."""
    climb = f"{reference} -> {LADDER[-1]}"
    lines = []
    for model in gains.index.get_level_values("model").unique():
        row = gains.loc[(model, climb)]
        share = row["weak_half_share_%"]
        if np.isnan(share):
            lines.append(f"- **{model}**: the ensemble adds nothing over {reference.upper()} "
                         f"(mean gain {row['mean_gain_pp']:.1f} pp).")
            continue
        where = ("mainly on the more vulnerable classes" if share >= 60 else "mainly on the more robust classes"
                 if share <= 40 else "spread about evenly (between 40% and 60%)")
        lines.append(f"- **{model}**: from {reference.upper()} to the ensemble the class error rises by "
                     f"{row['mean_gain_pp']:.1f} pp on average; the more vulnerable half of the classes takes "
                     f"{share:.0f}% of the rise (Spearman ρ between rise and {reference.upper()} error "
                     f"{row['spearman_rho']:.2f}): {where}.")
    return "\n".join(lines)


def temperature_sentences(sweeps: dict[str, pd.DataFrame], n_images: int) -> str:
    """Chapter 9: for each model, whether any temperature of Temperature-PGD beats plain PGD (T = 1)
    in overall success (%), by how much (pp), and for how many classes it raises or lowers success;
    then the resolution that ``n_images`` images per seed give (pp per image). Each sweep:
    :func:`labelaug_core.runs.temperature_evaluation`'s table (columns ``temperature``,
    ``success_%``, ``class_<k>_success_%``), including T = 1."""
    lines = []
    for method, sweep in sweeps.items():
        name = METHOD_NAMES.get(method, method)
        s = sweep.set_index("temperature")
        plain, others = s.loc[1.0, "success_%"], s.drop(index=1.0)
        best_t = others["success_%"].idxmax()
        best = others.loc[best_t, "success_%"]
        per_class = [c for c in s.columns if c.startswith("class_")]
        up = int((s.loc[best_t, per_class] > s.loc[1.0, per_class]).sum())
        down = int((s.loc[best_t, per_class] < s.loc[1.0, per_class]).sum())
        if best <= plain:
            lines.append(f"- **{name}**: no temperature beats plain PGD ({plain:.1f}% success at T = 1; the best "
                         f"other, T = {best_t:g}, reaches {best:.1f}%).")
        else:
            lines.append(f"- **{name}**: T = {best_t:g} reaches {best:.1f}% success against {plain:.1f}% for plain "
                         f"PGD (+{best - plain:.1f} pp); it raises the success rate of {up} of the {len(per_class)} "
                         f"classes and lowers it for {down}.")
    return ("\n".join(lines) + f"\n\nWith {n_images} images per seed (fewer once the misclassified clean images are "
            f"left out), one image moves a success rate by at least {100 / n_images:.1f} pp.")


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


def defence_changes(table: pd.DataFrame, class_names, weak: int, planned: list[int]) -> str:
    """Chapter 11: the peers' setting, the defended class(es), and for each defence row of ``table``
    (:func:`labelaug_core.report.defence_table`; not the peers', not ``Adv``/``Adv+`` themselves) one
    bullet with its change (pp) against its base model (``Adv+`` for rows starting ``Adv+``, else
    ``Adv``) in worst-class and class-mean robust accuracy, robust SD and class-mean clean accuracy."""
    from labelaug_core.report.defences import PEER_SETTING

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

