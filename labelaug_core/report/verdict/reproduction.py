"""Chapter 6, the reproduction: this profile's setting and numbers beside the paper's, and the
verdict over seeds and over both training protocols, from published results
(:mod:`labelaug_core.runs.published`): the tables and sentences of the reproduction report's first
section and of its "verdict over seeds" section.

Two protocols: Adv and Adv+ trained from scratch, and fine-tuned from the Std run of the same
seed (``init_from: std``, the paper's protocol). For each, the PGD-40 and strong-ensemble errors
of Adv and Adv+ are compared seed by seed and paired by image (:func:`~labelaug_core.report.trustworthy.claim_verdict`);
Adv+ counts at the worst of its two logit choices (first K, all K + M), as in chapter 10.
Errors are percent, differences pp (positive: Adv+ errs less).
"""
from __future__ import annotations

import pandas as pd

from labelaug_core.evaluation.ladder import StrongEval, worst_of
from labelaug_core.evaluation.paired import seed_summary
from labelaug_core.report.average_error import headline_changes  # noqa: F401  (chapter 6 shows it too)
from labelaug_core.report.classwise_error import collapse_sentence
from labelaug_core.report.comparisons import comparison_row
from labelaug_core.report.paper import (
    PAPER_FIELDS,
    PAPER_SETTING,
    PAPER_TABLE1,
    PAPER_TABLE2,
    setting_status,
)
from labelaug_core.report.style import mean_sd_frame, nan_to_dash
from labelaug_core.report.trustworthy import claim_verdict, verdict_sentence
from labelaug_core.runs.collect import METHOD_NAMES, compare_runs
from labelaug_core.runs.published import Published
from labelaug_core.runs.store import Run

PROTOCOLS = {"from scratch": "", "fine-tuned from Std": "std"}


# --- this profile against the paper ------------------------------------------------------------


def setting_table(run: Run, n_seeds: int) -> pd.DataFrame:
    """The paper's setting (:data:`PAPER_SETTING`) beside this profile's, read from ``run`` (an Adv+
    run) and the number of seeds: columns ``paper``, ``this profile`` and ``same?``
    (:func:`~labelaug_core.report.paper.setting_status`: ``same``, ``DIFFERS`` or ``paper silent``),
    one row per item."""
    cfg, env = run.config, run.env
    ours = {
        "data set": cfg.dataset, "model": cfg.model, "epochs": str(cfg.epochs),
        "training images": "all" if cfg.train_subset == 0 else f"{cfg.train_subset:,} (class-balanced)",
        "ε (train and eval)": f"{cfg.eps:g} (pixel units, [0, 1])",
        "training attack": f"PGD-{cfg.steps}", "share of each batch perturbed": f"{cfg.adv_fraction:g}",
        "evaluation attack": f"PGD-{cfg.eval_steps}", "δ": f"{cfg.delta:g}",
        "batch": str(cfg.batch_size), "lr": f"{cfg.lr:g} cosine", "seeds": str(n_seeds),
        "device": env.get("device_name", env.get("device", "?")),
    }
    table = pd.DataFrame({"paper": PAPER_SETTING, "this profile": ours})
    table["same?"] = [setting_status(p, o) for p, o in zip(table["paper"], table["this profile"])]
    return table


def paper_comparison(means: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Long table of ours beside the paper's: one row per (method, quantity) of ``means`` (indexed by
    method, e.g. :func:`method_means`) and ``columns``, with ``paper`` (Tables 1 and 2) and ``ours``
    (percent); NaN where the paper does not report a method or quantity."""
    paper = PAPER_TABLE1.join(PAPER_TABLE2)
    rows = [{"method": m, "quantity": c,
             "paper": paper.loc[m, c] if m in paper.index and c in paper.columns else float("nan"),
             "ours": means.loc[m, c]} for m in means.index for c in columns]
    return pd.DataFrame(rows).set_index(["method", "quantity"])


# --- What the chapters compute from runs: the notebooks call these instead of looping themselves. ---


def runs_used_sentence(runs) -> str:
    """The run ids a chapter used, and the code commit(s) and torch version(s) that trained them
    (each distinct value once, in the runs' order)."""
    commits = list(dict.fromkeys(str(r.env.get("git_commit", "unknown")) for r in runs))
    torches = list(dict.fromkeys(str(r.env.get("torch", "?")) for r in runs))
    return ("Runs used: " + ", ".join(f"`{r.run_id}`" for r in runs)
            + f". Code commit{'s' if len(commits) > 1 else ''} " + ", ".join(f"`{c}`" for c in commits)
            + f", torch {', '.join(torches)}.")


# --- the verdict over seeds and protocols, from published results --------------------------------


def strong_of(pub: Published, run) -> StrongEval:
    """A run's published ensemble evaluation; Adv+ at the worst of its first-K and all-logit attacks."""
    found = pub.strong[run.run_id]
    return worst_of(found["classes"], found["all"]) if "all" in found else found["classes"]


def protocol_verdicts(pub: Published) -> dict[str, dict]:
    """``{protocol: claim_verdict(Adv, Adv+)}`` for each protocol with published Adv and Adv+ runs: the
    PGD-40 comparison pairs every image the runs' own PGD-40 evaluation attacked (``eval_subset``), the
    ensemble comparison the ensemble's ``strong_subset`` images."""
    verdicts = {}
    for protocol, init in PROTOCOLS.items():
        adv, advplus = pub.select("adv", init), pub.select("advplus", init)
        if adv and advplus:
            verdicts[protocol] = claim_verdict([strong_of(pub, r) for r in adv], [strong_of(pub, r) for r in advplus],
                                               pgd40=compare_runs(adv, advplus, "pgd"))
    return verdicts


def _runs_by_row(pub: Published) -> dict[tuple[str, str], list]:
    rows = {}
    for protocol, init in PROTOCOLS.items():
        for method in ("std", "adv", "advplus"):
            runs = pub.select(method, init)
            if runs:
                rows[(protocol, METHOD_NAMES.get(method, method))] = runs
    return rows


def per_seed_errors(pub: Published) -> pd.DataFrame:
    """Every published run's numbers: rows (protocol, method, seed) with clean error (its test
    subset), PGD-40 error (its own evaluation), ensemble error (the published strong evaluation),
    each beside the number of test images it rests on (``n_clean``, ``n_pgd40``, ``n_ensemble``),
    the clean per-class SD (ddof = 0) and the worst class's clean error."""
    rows = []
    for (protocol, method), runs in _runs_by_row(pub).items():
        for r in runs:
            strong = strong_of(pub, r)
            rows.append({"protocol": protocol, "method": method, "seed": r.config.seed,
                         "clean_err": float(r.metrics["clean_err"]), "n_clean": int(r.metrics["n_test"]),
                         "pgd40_err": float(r.metrics["pgd_err"]), "n_pgd40": int(r.metrics["n_attacked"]),
                         "ensemble_err": strong.errors()["ensemble"], "n_ensemble": int(len(strong.y)),
                         "clean_class_sd": float(r.metrics["clean_class_sd"]),
                         "worst_class_clean_err": float(r.per_class["clean_err"].max())})
    return pd.DataFrame(rows)


def seed_summary_table(pub: Published) -> pd.DataFrame:
    """:func:`per_seed_errors` as "mean ± SD" over seeds (SD ddof = 1), one row per (protocol, method)."""
    columns = ("clean_err", "pgd40_err", "ensemble_err", "clean_class_sd", "worst_class_clean_err")
    rows = {}
    per_seed = per_seed_errors(pub)
    for key, group in per_seed.groupby(["protocol", "method"], sort=False):
        summaries = {c: seed_summary(group[c].to_numpy()) for c in columns}
        rows[key] = ({c: s["mean"] for c, s in summaries.items()} | {f"{c}_sd": s["sd"] for c, s in summaries.items()}
                     | {"seeds": len(group)})
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["protocol", "method"])
    images = {c: sorted(set(per_seed[f"n_{c.removesuffix('_err')}"])) for c in ("clean_err", "pgd40_err", "ensemble_err")}
    named = {c: f"{c} ({', '.join(f'{n:,}' for n in ns)} images)" for c, ns in images.items()}
    return mean_sd_frame(table, columns).rename(columns=named)


def verdict_statistics(verdicts: dict[str, dict]) -> pd.DataFrame:
    """The paired statistics behind each protocol's verdict: one :func:`comparison_row` per protocol
    and attack (Adv before, Adv+ after), with the protocol's outcome."""
    rows = []
    for protocol, v in verdicts.items():
        for attack in ("pgd40", "ensemble"):
            label = f"{protocol}: Adv -> Adv+, {'PGD-40' if attack == 'pgd40' else 'ensemble'} error"
            rows.append(comparison_row(label, v[attack]) | {"n_per_seed": v[attack]["per_seed"][0]["n"],
                                                           "outcome": v["outcome"]})
    return pd.DataFrame(rows).set_index("comparison")


def verdict_statistic_tables(verdicts: dict[str, dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`verdict_statistics` in two tables that fit the book's text column, both indexed by
    (protocol, attack): the gain (Adv's and Adv+'s error, mean ± SD over seeds, the mean paired
    gain with its 95% t interval, the number of seeds and images, the pooled McNemar p-value and
    the outcome) and the noise behind it (per-seed gains and McNemar p-values, the evaluation's
    standard error, the SD over seeds and over training, and the dominant source)."""
    stats = verdict_statistics(verdicts)
    index = pd.MultiIndex.from_tuples(
        [(label.split(":")[0], "PGD-40" if "PGD-40" in label else "ensemble") for label in stats.index],
        names=["protocol", "attack"])
    stats = stats.set_axis(index)
    gain = pd.DataFrame({
        "Adv error (%)": [f"{m:.2f} ± {nan_to_dash(s)}" for m, s in zip(stats["before_%"], stats["before_sd"])],
        "Adv+ error (%)": [f"{m:.2f} ± {nan_to_dash(s)}" for m, s in zip(stats["after_%"], stats["after_sd"])],
        "gain (pp)": stats["gain_pp"],
        "95% CI (pp)": [f"[{nan_to_dash(lo)}, {nan_to_dash(hi)}]" for lo, hi in zip(stats["ci_low_pp"], stats["ci_high_pp"])],
        "seeds": stats["seeds"], "n_per_seed": stats["n_per_seed"],
        "pooled McNemar p": [f"{p:.3g}" for p in stats["pooled_mcnemar_p"]], "outcome": stats["outcome"],
    }, index=index)
    noise = stats[["per_seed_gain_pp", "per_seed_mcnemar_p", "eval_se_pp", "seed_sd_pp", "training_sd_pp",
                   "dominant_noise"]]
    return gain, noise


SETTING_FIELDS = ("dataset", "model", "eps", "steps", "eval_steps", "epochs", "train_subset", "test_subset",
                  "eval_subset", "batch_size", "lr", "delta", "finetune_epochs", "finetune_lr")


SETTING_FIELDS = ("dataset", "model", "eps", "steps", "eval_steps", "epochs", "train_subset", "test_subset",
                  "eval_subset", "batch_size", "lr", "delta", "finetune_epochs", "finetune_lr")


def settings_comparison(pub: Published, settings: dict) -> pd.DataFrame:
    """The published runs' settings beside the paper's and this book's own (``settings``: the plan's
    TrainConfig fields): one row per field of :data:`SETTING_FIELDS`, columns ``paper``
    (:data:`PAPER_FIELDS`; "–" where the paper does not state it), ``verdict runs`` (Adv+ from scratch;
    the fine-tune fields from a fine-tuned Adv+), ``this book's runs`` (Adv+, trained from scratch)
    and ``verdict vs paper`` (``DIFFERS`` where the paper states a value and the verdict runs use
    another). ε is in [0, 1] pixel units here; the paper does not state its units (the authors'
    code: normalised units), so that row always differs. Subset sizes of 0 mean the whole split."""
    from labelaug_core.config import TrainConfig

    scratch, tuned = pub.select("advplus"), pub.select("advplus", "std")
    own = TrainConfig.from_dict(dict(settings) | {"method": "advplus"}).resolved()
    rows = {}
    for name in SETTING_FIELDS:
        if name.startswith("finetune"):
            theirs = getattr(tuned[0].config, name) if tuned else "–"
            ours = "– (from scratch)"
        else:
            theirs, ours = getattr(scratch[0].config, name), getattr(own, name)
        paper = PAPER_FIELDS[name]
        if name == "eps":
            theirs, ours = f"{theirs:g} (pixel units)", f"{ours:g} (pixel units)"
            paper = f"{paper} (units not stated; the authors' code: normalised units)"
        differs = paper not in ("–",) and str(theirs) != str(paper)
        rows[name] = {"paper": paper, "verdict runs": str(theirs), "this book's runs": str(ours),
                      "verdict vs paper": "DIFFERS" if differs else ""}
    return pd.DataFrame.from_dict(rows, orient="index")


def compute_minutes(pub: Published) -> dict[str, float]:
    """Minutes the published results took, from the runs' own records (so they hold when a
    publication was interrupted and resumed): ``training`` (sum of every run's epoch times) and
    ``ensemble`` (sum of every strong evaluation's time)."""
    training = sum(float(r.history["epoch_time_s"].sum()) for r in pub.runs)
    ensemble = sum(e.time_s for found in pub.strong.values() for e in found.values())
    return {"training": training / 60, "ensemble": ensemble / 60}


def source_sentence(pub: Published) -> str:
    """Where the section's numbers come from: the published folder, the command, the time it took,
    the CPU and the commit."""
    m, minutes = pub.manifest, compute_minutes(pub)
    return (f"The numbers of this section are **not** this book's own runs: they are the committed results in "
            f"`{pub.out_dir.parent.name}/{pub.out_dir.name}/` ({len(pub.runs)} runs, seeds {', '.join(map(str, m['seeds']))}), "
            f"made by `{m['command']}` on {m['cpu']} at commit `{m['git_commit']}`: {minutes['training']:.0f} min of "
            f"training and {minutes['ensemble']:.0f} min of strong evaluation; the ensemble attacked the first "
            f"{m['strong_subset']} test images of every run.")


def protocols_paragraph(pub: Published, verdicts: dict[str, dict]) -> str:
    """One paragraph per protocol (:func:`~labelaug_core.report.trustworthy.verdict_sentence`), then
    whether the protocols agree, and whether any class of Adv or Adv+ collapsed."""
    parts = [f"**{protocol.capitalize()}.** {verdict_sentence(v)}" for protocol, v in verdicts.items()]
    outcomes = {v["outcome"] for v in verdicts.values()}
    if len(verdicts) > 1:
        parts.append("Both protocols give the same verdict." if len(outcomes) == 1 else
                     "The two protocols' verdicts differ: " + "; ".join(f"{p}: {v['outcome']}" for p, v in verdicts.items()) + ".")
    robust = [r for r in pub.runs if r.config.method in ("adv", "advplus")]
    parts.append(collapse_sentence(robust))
    return "\n\n".join(parts)
