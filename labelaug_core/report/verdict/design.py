"""Chapter 6, label augmentation as its authors designed it: the screen, the pre-registered rule, the
confirmation on fresh seeds, the operation output's AUROC and the design's power, from the
published results of a screened plan (``experiments/la-design.yaml``,
:mod:`labelaug_core.runs.published`, :mod:`labelaug_core.runs.screen`).

Every Adv+ run is compared with its matched Adv run (same seed, data order, ``adv_fraction``, eps
and schedule; only the labels differ), paired on every test image both were attacked on. Errors
are percent, differences pp (``gain`` = Adv's error minus Adv+'s: positive = Adv+ more robust).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from labelaug_core.evaluation.ladder import worst_of
from labelaug_core.evaluation.paired import (
    compare_methods,
    mcnemar_mde,
    minimum_detectable_effect,
    sd_interval,
    significant_direction,
)
from labelaug_core.report.classwise_error import collapse_sentence
from labelaug_core.report.comparisons import comparison_row, difference_words
from labelaug_core.report.paper import paper_relative_drop, relative_change
from labelaug_core.runs.collect import eps_normalised
from labelaug_core.runs.published import Published
from labelaug_core.runs.screen import matched_pairs, screen_table

# The paper's value of each setting where it states one ("not stated" where it does not); units
# are part of the value. The authors' earlier public LA code is cited where the paper is silent.
PAPER_DESIGN = {
    "data set": "ImageNet",
    "model": "ResNet-50, torchvision ImageNet weights",
    "protocol": "fine-tuned from standard weights",
    "ε (L-inf)": "0.03, units not stated (the authors' code: normalised units, ≈ 0.0068 pixel on ImageNet)",
    "training attack": "PGD-10, step not stated",
    "training attack: logits": "not stated",
    "training attack: BatchNorm mode": "not stated",
    "share of each batch perturbed (adv_fraction)": "not stated (the authors' code: 0.7)",
    "labels of clean images": "one-hot (the authors' code)",
    "δ": "0.03",
    "evaluation attack": "PGD-40, L-inf, eps 0.03 (units not stated)",
    "epochs": "10",
    "training images": "ImageNet train (1.28 M)",
    "batch": "64",
    "optimiser": "SGD, momentum 0.9",
    "lr, schedule": "0.01, cosine to lr × 1e-4",
    "weight decay": "not stated",
    "precision": "not stated",
    "seeds": "1 (not stated)",
    "test images attacked": "ImageNet val (50,000; not stated)",
}


def _design_row(run) -> dict[str, str]:
    c = run.config
    eps = f"{c.eps:g} pixel units ([0, 1] images)"
    normalised = eps_normalised(c)
    if normalised is not None:  # one normalisation SD (grey images): the radius in normalised units
        eps += f" = {normalised:.3f} in normalised units"
    return {
        "data set": c.dataset, "model": c.model, "protocol": "from scratch" if not c.init_from else f"fine-tuned from {c.init_from}",
        "ε (L-inf)": eps, "training attack": f"PGD-{c.steps}, step {c.alpha:.4g} (2.5 ε / steps), 1 random start",
        "training attack: logits": "first K (the class logits)",
        "training attack: BatchNorm mode": c.attack_bn,
        "share of each batch perturbed (adv_fraction)": f"{c.adv_fraction:g}",
        "labels of clean images": "one-hot (op = -1)" if c.adv_fraction < 1 else "– (no clean images)",
        "δ": f"{c.delta:g}", "evaluation attack": f"PGD-{c.eval_steps}, L-inf, the training ε, first K logits",
        "epochs": str(c.epochs), "training images": "60,000 (all)" if not c.train_subset else f"{c.train_subset:,}",
        "batch": str(c.batch_size), "optimiser": f"SGD, momentum {c.momentum:g}",
        "lr, schedule": f"{c.lr:g}, cosine to lr × 1e-4 per step", "weight decay": f"{c.weight_decay:g}",
        "precision": f"{c.precision} (training; evaluation fp32)", "seeds": "",
        "test images attacked": "10,000 (all)" if not c.eval_subset else f"{c.eval_subset:,}",
    }


def settings_against_paper(pub: Published) -> pd.DataFrame:
    """Every setting of the screened study beside the paper's (:data:`PAPER_DESIGN`), ε units included:
    columns ``paper``, ``screen`` (the values the screen varied are listed) and ``confirmation``."""
    screen, confirm = pub.stage("screen"), pub.stage("confirm")
    rows = {}
    for key in PAPER_DESIGN:
        values = list(dict.fromkeys(_design_row(r)[key] for r in screen))
        rows[key] = {"paper": PAPER_DESIGN[key], "screen": " | ".join(values), "confirmation": _design_row(confirm[0])[key]}
    rows["seeds"]["screen"] = ", ".join(map(str, sorted({r.config.seed for r in screen})))
    rows["seeds"]["confirmation"] = ", ".join(map(str, pub.manifest["confirm"]["seeds"]))
    return pd.DataFrame.from_dict(rows, orient="index")


def screen_frame(pub: Published) -> pd.DataFrame:
    """The screen, one row per Adv+ setting in the rule's order (:func:`~labelaug_core.runs.screen.screen_table`),
    with ``chosen`` marking the setting the rule picked."""
    table = screen_table(matched_pairs(pub.stage("screen")))
    table["chosen"] = np.where(table["advplus_run"] == pub.manifest["confirm"]["chosen"], "◀ chosen", "")
    return table.drop(columns=["advplus_run", "adv_run"])


def _pairs(pub: Published):
    pairs = matched_pairs(pub.stage("confirm"))
    return sorted(pairs, key=lambda p: p[0].config.seed)


def _paper_style_masks(pub: Published, runs) -> list[np.ndarray] | None:
    frames = [pub.paper_style.get(r.run_id) for r in runs]
    return None if any(f is None for f in frames) else [f["wrong"].to_numpy(bool) for f in frames]


def confirmation_comparisons(pub: Published) -> dict[str, dict]:
    """The confirmation's paired comparisons of the chosen Adv+ setting against its matched Adv, seed
    by seed (:func:`~labelaug_core.evaluation.paired.compare_methods`), by evaluation:

    - ``"PGD-40"``: the runs' own PGD-40 (first K logits), every attacked test image;
    - ``"clean"``: clean error, every test image;
    - ``"paper-style PGD-40"``: the authors' attack (:mod:`labelaug_core.attacks.paper_style`) on the
      published paper-style images, where published;
    - ``"ensemble"``: the strong ensemble (Adv+ at the worst of first-K and all-logit attacks), where published.
    """
    pairs = _pairs(pub)
    adv, plus = [a for _, a in pairs], [p for p, _ in pairs]
    out = {"PGD-40": compare_methods([r.error_mask("pgd") for r in adv], [r.error_mask("pgd") for r in plus]),
           "clean": compare_methods([r.error_mask("clean") for r in adv], [r.error_mask("clean") for r in plus])}
    paper_a, paper_p = _paper_style_masks(pub, adv), _paper_style_masks(pub, plus)
    if paper_a is not None and paper_p is not None:
        out["paper-style PGD-40"] = compare_methods(paper_a, paper_p)
    if all(pub.strong.get(r.run_id) for r in adv + plus):
        strong = lambda r: (worst_of(pub.strong[r.run_id]["classes"], pub.strong[r.run_id]["all"])  # noqa: E731
                            if "all" in pub.strong[r.run_id] else pub.strong[r.run_id]["classes"])
        out["ensemble"] = compare_methods([strong(r).wrong["ensemble"] for r in adv],
                                          [strong(r).wrong["ensemble"] for r in plus])
    return out


def confirmation_table(comparisons: dict[str, dict]) -> pd.DataFrame:
    """One row per evaluation of :func:`confirmation_comparisons`: Adv's and Adv+'s errors, the gain
    with its t interval over seeds, the per-seed gains and McNemar p-values, the pooled p, the images
    per seed (``n``), the seed SD's 95% interval (:func:`~labelaug_core.evaluation.paired.sd_interval`)
    and the outcome (better / worse / within noise, :func:`~labelaug_core.evaluation.paired.significant_direction`)."""
    rows = []
    for label, c in comparisons.items():
        low, high = sd_interval(c["seed_sd_pp"], c["across_seeds"]["seeds"])
        row = comparison_row(label, c)
        row |= {"n_per_seed": c["per_seed"][0]["n"], "seed_sd_ci_pp": f"[{low:.2f}, {high:.2f}]",
                "outcome": {1: "Adv+ better", -1: "Adv+ worse", 0: "within noise"}[significant_direction(c)]}
        rows.append(row)
    columns = ["comparison", "n_per_seed", "before_%", "after_%", "gain_pp", "ci_low_pp", "ci_high_pp",
               "per_seed_gain_pp", "per_seed_mcnemar_p", "pooled_mcnemar_p", "seed_sd_pp", "seed_sd_ci_pp",
               "eval_se_pp", "outcome"]
    table = pd.DataFrame(rows)[columns].set_index("comparison")
    return table.rename(columns={"before_%": "Adv_%", "after_%": "Adv+_%"})


def operation_table(pub: Published) -> pd.DataFrame:
    """Does the operation output act? For every published Adv+ model: its setting, stage, the AUROC of
    the operation probability on its PGD-40 images against its clean images (the same images;
    0.5 = no separation), and the mean operation probability on each (:mod:`labelaug_core.evaluation.operation`)."""
    confirm = set(pub.manifest["confirm"]["runs"])
    rows = []
    for r in pub.runs:
        if r.config.method != "advplus":
            continue
        op = r.metrics["operation"]
        rows.append({"stage": "confirmation" if r.run_id in confirm else "screen", "seed": r.config.seed,
                     "adv_fraction": r.config.adv_fraction, "eps": r.config.eps, "delta": r.config.delta,
                     "auroc": op["auroc"], "op_prob_clean": op["mean_clean"], "op_prob_pgd": op["mean_attacked"],
                     "n": op["n_attacked"]})
    return pd.DataFrame(rows)


def power_summary(c: dict, *, n_sim: int = 2000) -> dict[str, float]:
    """The smallest PGD-40 gain (pp) the confirmation could detect with 80% power at the 5% level, from
    its observed discordance (the share of images on which exactly one of the two models errs, mean
    over seeds) and its images per seed: ``mde_pooled_pp`` (the pooled McNemar test alone, analytic:
    :func:`~labelaug_core.evaluation.paired.mcnemar_mde`), ``mde_rule_pp`` (the book's rule, McNemar
    and the t interval over seeds, simulated with the observed training SD:
    :func:`~labelaug_core.evaluation.paired.minimum_detectable_effect`), and the inputs."""
    per_seed = c["per_seed"]
    n = int(per_seed[0]["n"])
    seeds = len(per_seed)
    discordant = float(np.mean([(r["b"] + r["c"]) / r["n"] for r in per_seed]))
    training_sd = c["training_sd_pp"] if not math.isnan(c["training_sd_pp"]) else 0.0
    return {"n_per_seed": n, "seeds": seeds, "discordant_rate": discordant, "training_sd_pp": training_sd,
            "mde_pooled_pp": mcnemar_mde(n * seeds, discordant),
            "mde_rule_pp": minimum_detectable_effect(n=n, discordant_rate=discordant, seeds=seeds,
                                                     training_sd_pp=training_sd, rule="both", n_sim=n_sim)}


def power_sentence(power: dict[str, float], adv_err_pct: float) -> str:
    """The power statement: the smallest detectable gain, beside the paper's relative drop applied to
    Adv's error here."""
    paper_gain = adv_err_pct * paper_relative_drop() / 100
    return (f"**What this design could detect.** With {power['n_per_seed']:,} images per seed and {power['seeds']} "
            f"seeds, and {100 * power['discordant_rate']:.1f}% of the images discordant (one model right, the other "
            f"wrong), a PGD-40 gain of {power['mde_pooled_pp']:.2f} pp is detected with 80% power by the pooled "
            f"McNemar test alone, and a gain of {power['mde_rule_pp']:.2f} pp under this book's rule (McNemar *and* "
            f"the t interval over seeds, simulated with the observed training SD of {power['training_sd_pp']:.2f} pp). "
            f"The paper's relative drop ({paper_relative_drop():.1f}%) applied to Adv's {adv_err_pct:.2f}% here would "
            f"be a gain of {paper_gain:.1f} pp: "
            + (f"an effect of the paper's size would not have been missed; one smaller than {power['mde_rule_pp']:.2f} pp "
               f"could have been." if paper_gain > power["mde_rule_pp"] else
               "even an effect of the paper's size could have been missed by this design."))


def screen_sentence(pub: Published) -> str:
    """What the screen found, and that it proves nothing by itself."""
    table = screen_frame(pub)
    best = table.iloc[0]
    positive = int((table["gain_pp"] > 0).sum())
    nominal = int(((table["p_value"] < 0.05) & (table["gain_pp"] > 0)).sum())
    return (f"The screen ran {len(table)} Adv+ settings on seed 0, each beside its matched Adv. Adv+ had the lower "
            f"PGD-40 error in {positive} of {len(table)} settings; {nominal} of those gains had McNemar p < 0.05 "
            f"before any correction for the {len(table)} comparisons. The rule picked adv_fraction "
            f"{best['adv_fraction']:g}, ε {best['eps']:g}, δ {best['delta']:g} (gain {best['gain_pp']:+.2f} pp, "
            f"p = {best['p_value']:.3g}). The best of {len(table)} noisy differences is biased upwards (the "
            f"winner's curse), so the screen alone proves nothing: the confirmation below, on seeds the choice "
            f"never saw, is the test.")


def operation_sentence(ops: pd.DataFrame, screen: pd.DataFrame | None = None) -> str:
    """Whether the operation output separates clean from attacked images: its AUROC by adv_fraction
    and δ (mean over the models of each), whether mixed batches make it act (an AUROC of 0.9 or more
    for some mixed-batch setting, against below 0.7 for every all-adversarial one), and, given the
    ``screen`` (:func:`screen_frame`), the PGD-40 gain where it separates best."""
    parts = []
    for fraction, group in ops.groupby("adv_fraction", sort=False):
        by_delta = group.groupby("delta")["auroc"].mean()
        parts.append(f"with adv_fraction {fraction:g} ({'every image perturbed' if fraction == 1 else 'mixed batches'}) "
                     f"its AUROC is {group['auroc'].min():.2f}-{group['auroc'].max():.2f} over {len(group)} models ("
                     + ", ".join(f"δ {d:g}: {v:.2f}" for d, v in by_delta.items()) + ")")
    mixed, constant = ops[ops["adv_fraction"] < 1], ops[ops["adv_fraction"] == 1]
    acts = (not mixed.empty) and float(mixed["auroc"].max()) >= 0.9 and (constant.empty or float(constant["auroc"].max()) < 0.7)
    text = ("**Does the mechanism act?** The operation output should be high on attacked and low on clean images: "
            + "; ".join(parts) + ". ")
    if acts:
        text += ("With clean images in the batch the operation output does learn to tell attacked from clean images, "
                 "most at the largest δ: the mechanism the paper names acts here. With every image perturbed it "
                 "barely does, as a constant target predicts.")
    else:
        text += "No setting makes the operation output separate attacked from clean images well (AUROC 0.9 or more)."
    if screen is not None and not screen.empty:
        best = screen.loc[screen["op_auroc"].idxmax()]
        text += (f" Where it separates best in the screen (adv_fraction {best['adv_fraction']:g}, ε {best['eps']:g}, "
                 f"δ {best['delta']:g}; AUROC {best['op_auroc']:.2f}), Adv+'s PGD-40 error is "
                 f"{abs(best['gain_pp']):.2f} pp {'below' if best['gain_pp'] > 0 else 'above'} its matched Adv's "
                 f"(McNemar p = {best['p_value']:.2g}): separating the transformation is not the same as resisting it.")
    return text


def design_verdict(pub: Published, comparisons: dict[str, dict], power: dict[str, float]) -> str:
    """The verdict on LA as designed, in sentences computed from the confirmation's numbers."""
    pgd = comparisons["PGD-40"]
    chosen = pub.by_id(pub.manifest["confirm"]["chosen"]).config
    direction = significant_direction(pgd)
    rel = relative_change(pgd["err_a"]["mean"], pgd["err_b"]["mean"])
    head = (f"**Confirmation** (adv_fraction {chosen.adv_fraction:g}, ε {chosen.eps:g}, δ {chosen.delta:g}; seeds "
            f"{', '.join(map(str, pub.manifest['confirm']['seeds']))}; PGD-40 on "
            f"{pgd['per_seed'][0]['n']:,} images per seed). "
            + difference_words(pgd, "Adv", "Adv+", "PGD-40 error")
            + f" Relative change {rel:.1f}% (the paper: {paper_relative_drop():.1f}%).")
    others = [f"{label}: {difference_words(c, 'Adv', 'Adv+', label + ' error')}"
              for label, c in comparisons.items() if label != "PGD-40"]
    verdict = {
        1: (f"**Label augmentation as designed makes PGD training more robust here**, by {pgd['across_seeds']['mean']:.2f} pp "
            f"of PGD-40 error: a {rel:.1f}% relative drop, against the paper's {paper_relative_drop():.1f}%."),
        -1: "**Label augmentation as designed makes PGD training less robust here**, beyond the noise.",
        0: (f"**{'Neither form of label augmentation makes' if chosen.adv_fraction == 1 else 'Label augmentation as designed does not make'} "
            f"PGD training measurably more robust here**: the "
            f"confirmed difference is within noise, and the design would have detected a gain of "
            f"{power['mde_rule_pp']:.2f} pp or more with 80% power. The paper's claim (a {paper_relative_drop():.0f}% "
            f"relative drop in PGD-40 error) does not reproduce in this setting."),
    }[direction]
    if chosen.adv_fraction == 1:
        screen = screen_frame(pub)
        mixed = screen[screen["adv_fraction"] < 1]
        best = mixed.iloc[0]
        worse = mixed[(mixed["gain_pp"] < 0) & (mixed["p_value"] < 0.05)]
        verdict += (f" The rule picked a setting in which every training image is perturbed (adv_fraction 1), where the "
                    f"operation output's target is a constant: the confirmation therefore tests that form of label "
                    f"augmentation. LA as designed, with clean images in the batch, did not earn a confirmation: its "
                    f"best screened setting (adv_fraction {best['adv_fraction']:g}, ε {best['eps']:g}, δ "
                    f"{best['delta']:g}) gained {best['gain_pp']:+.2f} pp (p = {best['p_value']:.2g}) on seed 0")
        if len(worse):
            verdict += (f", and {len(worse)} of its {len(mixed)} settings made PGD-40 error measurably higher on seed 0 ("
                        + ", ".join(f"δ {r['delta']:g} at ε {r['eps']:g}: {r['gain_pp']:+.2f} pp, p = {r['p_value']:.1g}"
                                    for _, r in worse.iterrows())
                        + "; one seed, uncorrected for the screen's comparisons)")
        verdict += "."
    robust = [r for r in pub.runs if r.config.method in ("adv", "advplus")]
    return "\n\n".join([head, *others, verdict, collapse_sentence(robust)])


def class_gap_table(pub: Published) -> pd.DataFrame:
    """The class-wise side of the claim on the confirmation runs: per method, mean over seeds of the
    clean and PGD-40 per-class SD (ddof = 0 across classes) and of the worst class's errors (%)."""
    rows = []
    for plus, adv in _pairs(pub):
        for name, r in (("Adv", adv), ("Adv+", plus)):
            rows.append({"method": name, "seed": r.config.seed, "clean_class_sd": r.metrics["clean_class_sd"],
                         "pgd_class_sd": r.metrics["pgd_class_sd"], "worst_class_clean_err": r.metrics["clean_class_worst"],
                         "worst_class_pgd_err": r.metrics["pgd_class_worst"]})
    return pd.DataFrame(rows).groupby("method", sort=False).mean(numeric_only=True).drop(columns="seed")


def design_source_sentence(pub: Published) -> str:
    """Where the study's numbers come from: the folder, the command, the CPU, the commit, the time."""
    m = pub.manifest
    training = sum(float(r.history["epoch_time_s"].sum()) for r in pub.runs) / 60
    return (f"The numbers of this section come from the committed results in `{pub.out_dir.parent.name}/"
            f"{pub.out_dir.name}/` ({len(m['screen'])} screen runs on seed {', '.join(map(str, m['seeds']))}, "
            f"{len(m['confirm']['runs'])} confirmation runs on seeds {', '.join(map(str, m['confirm']['seeds']))}), "
            f"made by `{m['command']}` on {m['cpu']} at commit `{m['git_commit']}` ({m['wall_time_s'] / 60:.0f} min "
            f"wall time for its last invocation, {training:.0f} min of training in all).")
