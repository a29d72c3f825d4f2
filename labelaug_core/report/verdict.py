"""The verdict on the paper's robustness claim, the per-class ladder analysis (Tian et al. 2021),
and the sentences in which the chapters state what their numbers show.

The paper (Amerehi & Healy 2025, Table 1) reports a relative drop in PGD-40 error from Adv to
Adv+ of :func:`~labelaug_core.report.tables.paper_relative_drop` (from its Table 1). A gain measured
with one attack can be a gain against that attack only: the verdict compares Adv+'s gain over Adv
under PGD-40 with the same gain under the ensemble of :mod:`labelaug_core.evaluation.strong`.
Errors are percentages, differences pp. Every function that words a claim returns Markdown
text; the notebooks only display it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.strong import LADDER, StrongEval, worst_of
from labelaug_core.report.tables import (
    METHOD_NAMES,
    error_difference,
    paper_relative_drop,
    relative_change,
)


def ladder_table(evals: list[StrongEval], class_names) -> pd.DataFrame:
    """Per-class error (%) of each rung (mean over ``evals``, e.g. seeds) and each rung's gain (pp)
    over the previous one. One row per class: ``class``, ``<rung>_err``, ``<rung>_gain``."""
    k = len(class_names)
    errs = sum(e.per_class_errors(k) for e in evals) / len(evals)
    table = pd.DataFrame({"class": list(class_names)})
    for i, rung in enumerate(LADDER):
        table[f"{rung}_err"] = errs[f"{rung}_err"].to_numpy()
        if i:
            table[f"{rung}_gain"] = table[f"{rung}_err"] - table[f"{LADDER[i - 1]}_err"]
    return table


def gain_vulnerability(ladder: pd.DataFrame, reference: str = "fgsm") -> pd.DataFrame:
    """Do stronger attacks gain mainly on the vulnerable classes?

    For each rung after ``reference``, and for the whole climb from ``reference`` to the last rung
    (row ``"<reference> -> <last>"``): the Pearson and Spearman correlation, across classes,
    between the rung's gain (pp over the previous rung) and the class's error under
    ``reference`` (its vulnerability), and the share (%) of the summed gain that falls on the
    more vulnerable half of the classes (50% = no preference). NaN where the gain is constant.
    """
    vulnerability = ladder[f"{reference}_err"].to_numpy()
    order = np.argsort(-vulnerability, kind="stable")
    weak_half = order[: len(order) // 2]
    rows = []
    later = LADDER[LADDER.index(reference) + 1:]
    gains = {rung: ladder[f"{rung}_gain"].to_numpy() for rung in later}
    gains[f"{reference} -> {later[-1]}"] = ladder[f"{later[-1]}_err"].to_numpy() - vulnerability
    for rung, gain in gains.items():
        constant = np.ptp(gain) == 0 or np.ptp(vulnerability) == 0
        total = gain.sum()
        rows.append({
            "rung": rung, "mean_gain_pp": float(gain.mean()),
            "pearson_r": float("nan") if constant else float(stats.pearsonr(gain, vulnerability).statistic),
            "spearman_rho": float("nan") if constant else float(stats.spearmanr(gain, vulnerability).statistic),
            "weak_half_share_%": float(100.0 * gain[weak_half].sum() / total) if total > 0 else float("nan"),
        })
    return pd.DataFrame(rows)


def verdict_table(evals: dict[str, list[StrongEval]]) -> pd.DataFrame:
    """One row per label (e.g. "Std", "Adv", "Adv+", "Adv+ (all K+M logits)"): error (%) of each rung,
    mean over the label's evaluations (seeds), with ``n`` (examples per seed) and ``seeds``."""
    rows = {}
    for label, group in evals.items():
        errors = [e.errors() for e in group]
        rows[label] = {f"{r}_err": float(np.mean([e[r] for e in errors])) for r in LADDER}
        rows[label] |= {"n": int(len(group[0].y)), "seeds": len(group)}
    return pd.DataFrame.from_dict(rows, orient="index")


def member_table(evals: dict[str, list[StrongEval]]) -> pd.DataFrame:
    """Share (%) of the examples that each ensemble member fooled first (the cascade's order: what a
    member adds to the members before it), one row per label, mean over its evaluations."""
    rows = {label: pd.DataFrame([{k.removeprefix("member:"): v for k, v in e.errors().items() if k.startswith("member:")}
                                 for e in group]).mean() for label, group in evals.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def claim_verdict(adv_pgd40: float, advplus_pgd40: float, adv_ensemble: float, advplus_ensemble: float,
                  n: int) -> dict:
    """Does Adv+'s PGD-40 gain over Adv survive the strong ensemble?

    Errors in percent on the same ``n`` examples per model. ``gain_*`` = Adv error - Adv+ error
    (pp; positive: Adv+ more robust), ``relative_*`` = that gain / Adv error (%; the paper's for
    PGD-40 is :func:`~labelaug_core.report.tables.paper_relative_drop`), ``se_ensemble`` the
    binomial standard error (pp) of the ensemble gain treating the two models' errors as
    independent, ``retained`` = gain_ensemble / gain_pgd40.

    ``outcome``: ``"no PGD-40 gain"`` (nothing to test), ``"vanishes"`` (ensemble gain <= 0),
    ``"within noise"`` (0 < ensemble gain < 2 SE), ``"shrinks"`` (significant, but less than
    half of the PGD-40 gain is retained) or ``"survives"``.
    """
    if n < 1:
        raise ConfigError(f"n must be >= 1; got {n}")
    gain_pgd, gain_ens = adv_pgd40 - advplus_pgd40, adv_ensemble - advplus_ensemble
    se = error_difference(adv_ensemble, advplus_ensemble, n)["se"]
    retained = gain_ens / gain_pgd if gain_pgd > 0 else float("nan")
    if gain_pgd <= 0:
        outcome = "no PGD-40 gain"
    elif gain_ens <= 0:
        outcome = "vanishes"
    elif gain_ens < 2 * se:
        outcome = "within noise"
    elif retained < 0.5:
        outcome = "shrinks"
    else:
        outcome = "survives"
    rel = lambda before, gain: 100.0 * gain / before if before > 0 else float("nan")
    return {"gain_pgd40": gain_pgd, "gain_ensemble": gain_ens, "relative_pgd40": rel(adv_pgd40, gain_pgd),
            "relative_ensemble": rel(adv_ensemble, gain_ens), "se_ensemble": se, "retained": retained,
            "outcome": outcome}


def verdict_sentence(v: dict) -> str:
    """One Markdown paragraph stating :func:`claim_verdict`'s result from its numbers."""
    def gap(gain: float) -> str:
        return f"{abs(gain):.2f} pp {'below' if gain >= 0 else 'above'} Adv's"

    head = (f"Under PGD-40, Adv+'s error is {gap(v['gain_pgd40'])} ({v['relative_pgd40']:.1f}% relative drop; "
            f"the paper: {paper_relative_drop():.1f}%). Under the strong ensemble it is {gap(v['gain_ensemble'])} "
            f"({v['relative_ensemble']:.1f}% relative drop; standard error of the difference {v['se_ensemble']:.2f} pp).")
    tail = {
        "no PGD-40 gain": "Adv+ is not more robust than Adv even under PGD-40 here, so there is no gain to test.",
        "vanishes": "**The gain does not survive**: against the ensemble Adv+ is not more robust than Adv.",
        "within noise": "**The gain does not survive clearly**: what is left is within two standard errors of zero.",
        "shrinks": (f"**The gain survives only in part**: {100 * v['retained']:.0f}% of the PGD-40 gain is left "
                    "against the ensemble, so PGD-40 overstates it."),
        "survives": (f"**The gain survives**: {100 * v['retained']:.0f}% of the PGD-40 gain is left against the "
                     "ensemble."),
    }[v["outcome"]]
    return f"{head} {tail}"


# --- The chapters' claims, worded from their numbers (the notebooks display these). -------------

def _outcome_words(outcome: str) -> str:
    return {"lower": "lower, beyond two standard errors", "higher": "higher, beyond two standard errors",
            "within noise": "within noise"}[outcome]


def profile_gain_paragraph(means: pd.DataFrame, n: int) -> str:
    """Chapter 3's claim: how much Adv+ changes PGD error relative to Adv on this profile, beside the
    paper's :func:`~labelaug_core.report.tables.paper_relative_drop`, and whether the difference is
    more than two standard errors (:func:`error_difference`).

    ``means``: per-method mean errors (%) indexed by method with a ``pgd_err`` column
    (:func:`~labelaug_core.report.tables.method_means`); ``n``: attacked images per model (all seeds).
    """
    before, after = float(means.loc["adv", "pgd_err"]), float(means.loc["advplus", "pgd_err"])
    d = error_difference(before, after, n)
    verdict = {"lower": "**Adv+ is more robust here**, by more than two standard errors.",
               "higher": "**Adv+ is less robust here**, by more than two standard errors.",
               "within noise": "**The difference is within noise** (less than two standard errors): this profile "
                               "does not show the paper's gain."}[d["outcome"]]
    return (f"On this profile, label augmentation changes PGD-40 error relative to Adv by "
            f"**{relative_change(before, after):.2f} %** (the paper reports {paper_relative_drop():.2f} % on ImageNet): "
            f"{d['gain']:+.2f} pp, with a standard error of {d['se']:.2f} pp on {n} attacked images per model. "
            f"{verdict} Chapter 10 repeats the comparison under a much stronger attack.")


def delta_control_lines(summary: pd.DataFrame, adv_pgd_err: float, n: int) -> str:
    """Chapter 5's claims, one Markdown bullet each: Adv+ with δ = 0 (the control: the same K + M
    model and training, no label augmentation) against Adv, then each other δ against δ = 0, each
    PGD-40 error difference (pp) in standard errors (:func:`error_difference`, ``n`` attacked images
    per model). ``summary``: index δ, column ``pgd_err`` (%) (:func:`~labelaug_core.report.tables.delta_summary`).
    Without a δ = 0 run, one sentence saying there is no control."""
    if 0.0 not in summary.index:
        return "The sweep has no δ = 0 run, so there is no control to compare with."

    def versus(before: float, after: float, label: str) -> str:
        d = error_difference(before, after, n)
        return (f"- {label}: PGD-40 error {after:.2f}% against {before:.2f}% ({-d['gain']:+.2f} pp, "
                f"SE {d['se']:.2f} pp): {_outcome_words(d['outcome'])}.")

    control = float(summary.loc[0.0, "pgd_err"])
    lines = [versus(adv_pgd_err, control, "Adv+ δ = 0 vs Adv")]
    lines += [versus(control, float(summary.loc[d, "pgd_err"]), f"Adv+ δ = {d:g} vs δ = 0")
              for d in summary.index if d != 0.0]
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


def runs_used_sentence(runs) -> str:
    """The run ids a chapter used, and the code commit(s) and torch version(s) that trained them
    (each distinct value once, in the runs' order)."""
    commits = list(dict.fromkeys(str(r.env.get("git_commit", "unknown")) for r in runs))
    torches = list(dict.fromkeys(str(r.env.get("torch", "?")) for r in runs))
    return ("Runs used: " + ", ".join(f"`{r.run_id}`" for r in runs)
            + f". Code commit{'s' if len(commits) > 1 else ''} " + ", ".join(f"`{c}`" for c in commits)
            + f", torch {', '.join(torches)}.")


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


def verdict_evaluations(strong: dict[str, list[StrongEval]], strong_all: list[StrongEval], *,
                        worst_of_both: bool = True) -> dict[str, list[StrongEval]]:
    """The evaluations that chapter 10 compares, by label: ``Std``, ``Adv``, ``Adv+`` (first-K
    attacks, ``strong`` keyed by method), ``Adv+ (all K+M logits)`` (``strong_all``, Adv+ attacked on
    every logit) and, with ``worst_of_both``, ``Adv+ (worst of both)``: per example and seed the worst
    of the two Adv+ evaluations (:func:`~labelaug_core.evaluation.strong.worst_of`)."""
    evals = {"Std": strong["std"], "Adv": strong["adv"], "Adv+": strong["advplus"], "Adv+ (all K+M logits)": strong_all}
    if worst_of_both:
        evals["Adv+ (worst of both)"] = [worst_of(a, b) for a, b in zip(strong["advplus"], strong_all, strict=True)]
    return evals


def masking_check_tables(runs: dict, strong: dict[str, list[StrongEval]], strong_all: list[StrongEval], *,
                         n: int, apgd_steps: int, step_counts, square_queries: int, data_dir: str | None = None,
                         check=None) -> dict[str, pd.DataFrame]:
    """Chapter 10's gradient-masking checks of each model's first seed (``check`` =
    :func:`labelaug_core.runs.masking_checks` by default): Std (transfer from Adv), Adv and Adv+
    (transfer from Std), Adv+ attacked on all K + M logits; each reuses the examples that its
    white-box ensemble got wrong. ``{label: checks table}`` with ``name``, ``passed``, ``message``."""
    if check is None:
        from labelaug_core.runs.strong import masking_checks as check
    first = {m: group[0] for m, group in runs.items()}
    cases = {"Std": (first["std"], "classes", first["adv"], strong["std"][0]),
             "Adv": (first["adv"], "classes", first["std"], strong["adv"][0]),
             "Adv+": (first["advplus"], "classes", first["std"], strong["advplus"][0]),
             "Adv+ (all K+M logits)": (first["advplus"], "all", first["std"], strong_all[0])}
    return {label: check(run, n=n, logits=logits, white_box_wrong=white_box.wrong["ensemble"], transfer_run=transfer,
                         apgd_steps=apgd_steps, step_counts=tuple(step_counts), square_queries=square_queries,
                         data_dir=data_dir)
            for label, (run, logits, transfer, white_box) in cases.items()}


def failed_checks(checks: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    """``{label: names of its failed checks}`` (empty list: every check passed)."""
    return {label: table.loc[~table["passed"].astype(bool), "name"].tolist() for label, table in checks.items()}


def masking_report(checks: dict[str, pd.DataFrame]) -> list:
    """For each label of :func:`masking_check_tables`: a Markdown line (every check passes, or which
    fail) and its table (``name``, ``passed``, ``message``); ``display(*masking_report(checks))``."""
    from IPython.display import Markdown

    items = []
    for label, failed in failed_checks(checks).items():
        items.append(Markdown(f"**{label}**: " + ("every check passes." if not failed else
                                                 f"**{len(failed)} check(s) fail: {', '.join(failed)}**.")))
        items.append(checks[label][["name", "passed", "message"]])
    return items


def verdict_paragraph(v: dict, v_k: dict, table: pd.DataFrame, failed: dict[str, list[str]]) -> str:
    """Chapter 10's conclusion: :func:`verdict_sentence` of ``v`` (Adv+ at its worst of both logit
    choices), the first-K-only ensemble gain ``v_k``, Adv against Std under the ensemble (pp, from
    ``table``: :func:`verdict_table`) and which models failed a gradient-masking check (``failed``:
    :func:`failed_checks`)."""
    masked = [label for label, names in failed.items() if names]
    return (verdict_sentence(v)
            + f" Counting only first-K attacks on Adv+, the ensemble gain is {v_k['gain_ensemble']:.2f} pp ({v_k['outcome']})."
            + f" Adv against Std under the ensemble: "
              f"{table.loc['Adv', 'ensemble_err'] - table.loc['Std', 'ensemble_err']:+.2f} pp of error."
            + (f" Gradient-masking checks failed for: {', '.join(masked)}; read those numbers with care."
               if masked else " Every gradient-masking check passed."))


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
