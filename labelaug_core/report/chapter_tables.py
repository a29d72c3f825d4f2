"""Per-chapter tables the book shows: label-augmentation targets, the δ sweep, class-wise and
adversarial-flow tables, corruption and ImageNet tables, defences and benchmarks. Errors in percent."""
from __future__ import annotations

import pandas as pd

from labelaug_core.report.tables import METHOD_NAMES, mean_metric
from labelaug_core.runs.store import Run


def augmented_target_table(deltas, num_classes: int, num_ops: int, label: int = 0) -> pd.DataFrame:
    """Label-augmentation targets of one image of class ``label``, clean and adversarial (op 0),
    for each δ of ``deltas``: rows ``(δ, image)`` with image ``clean`` or ``adversarial``, columns
    ``class <label>`` and ``op 0`` .. ``op M-1`` (probabilities; the other K - 1 classes get 0)."""
    import torch

    from labelaug_core.losses import augmented_targets

    y = torch.tensor([label, label])
    op = torch.tensor([-1, 0])  # the same image, clean and adversarial
    columns = [f"class {k}" for k in range(num_classes)] + [f"op {j}" for j in range(num_ops)]
    rows = {}
    for d in deltas:
        targets = augmented_targets(y, op, num_classes, num_ops, d).numpy()
        rows[(d, "clean")], rows[(d, "adversarial")] = targets[0], targets[1]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    table.index = pd.MultiIndex.from_tuples(table.index, names=["δ", "image"])
    return table[[f"class {label}"] + columns[num_classes:]]


def target_optimum_table(deltas, num_classes: int, num_ops: int, label: int = 0) -> pd.DataFrame:
    """For each δ, the label-augmentation loss (nats) of an adversarial image at the optimum
    (logits ``log t``, t its target), the entropy ``H(t)`` (nats; the two are equal: the loss
    cannot go below it) and the softmax that those logits put on the true class (``1 - δ``).
    One row per δ (index ``δ``)."""
    import torch

    from labelaug_core.losses import augmented_targets, label_augmentation_loss

    y, op = torch.tensor([label]), torch.zeros(1, dtype=torch.long)
    rows = []
    for d in deltas:
        t = augmented_targets(y, op, num_classes, num_ops, d)
        logits = torch.log(t.clamp_min(1e-30))
        loss = label_augmentation_loss(logits, y, op, num_classes, num_ops, d).item()
        positive = t[t > 0]
        rows.append({"δ": d, "loss at the optimum": loss, "H(t)": float(-(positive * positive.log()).sum()),
                     "softmax on the true class": float(logits.softmax(1)[0, label])})
    return pd.DataFrame(rows).set_index("δ")


def delta_sweep_runs(runs_dir, seeds: list[int], deltas, **settings) -> dict[float, list[Run]]:
    """The Adv+ runs of each δ of a sweep, ``{δ: [run per seed]}``, the other TrainConfig fields from
    ``settings`` (its own ``delta``, if any, is replaced by each δ)."""
    from labelaug_core.runs.store import find_runs

    return {d: find_runs(runs_dir, seeds, ("advplus",), **(settings | {"delta": d}))["advplus"] for d in deltas}


def delta_summary(sweep: dict[float, list[Run]],
                  metrics: tuple[str, ...] = ("clean_err", "pgd_err", "clean_class_sd", "pgd_class_sd")) -> pd.DataFrame:
    """Mean over seeds of each metric (percent) for each δ of :func:`delta_sweep_runs`; index ``delta``."""
    return pd.DataFrame([{"delta": d, **{k: mean_metric(runs, k) for k in metrics}} for d, runs in sweep.items()],
                        columns=["delta", *metrics]).set_index("delta")


def class_mce_table(tables: dict[str, pd.DataFrame], class_names) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-class mCE (%) of each method, one column per method (key of ``tables``, each
    :func:`labelaug_core.report.method_tables`' table), one row per class; and its summary: rows
    ``mean``, ``SD`` (ddof 0), ``worst`` and ``worst class``, one column per method."""
    from labelaug_core.report.corruptions import class_mce

    per_class = pd.DataFrame({method: class_mce(t, class_names) for method, t in tables.items()})
    summary = pd.DataFrame({"mean": per_class.mean(), "SD": per_class.std(ddof=0), "worst": per_class.max(),
                            "worst class": per_class.idxmax()}).T
    return per_class, summary


def real_errors(predictions: dict[str, pd.DataFrame], score=None) -> tuple[dict[str, dict], dict[str, pd.DataFrame]]:
    """ReaL error of every run's predictions (``{run_id: frame}``, :func:`labelaug_core.runs.run_predictions`):
    ``({run_id: metrics}, {run_id: per-class table})`` of ``score`` (default
    :func:`labelaug_core.evaluation.imagenet.real_error`)."""
    if score is None:
        from labelaug_core.evaluation.imagenet import real_error as score
    scored = {run_id: score(frame) for run_id, frame in predictions.items()}
    return ({run_id: metrics for run_id, (metrics, _) in scored.items()},
            {run_id: table for run_id, (_, table) in scored.items()})


def real_error_table(runs: list[Run], real_metrics: dict[str, dict]) -> pd.DataFrame:
    """Clean and ReaL error (%) of each run: index (method, seed), columns ``clean_err``, ``real_err``."""
    return pd.DataFrame([{"method": r.config.method, "seed": r.config.seed, "clean_err": r.metrics["clean_err"],
                          "real_err": real_metrics[r.run_id]["real_err"]} for r in runs]).set_index(["method", "seed"])


def predictions_by_method(runs_by_method: dict[str, list[Run]], predictions: dict[str, object]) -> dict[str, list]:
    """``{method: [predictions of each seed's run]}`` from ``{run_id: predictions}``."""
    return {m: [predictions[r.run_id] for r in runs] for m, runs in runs_by_method.items()}


def class_accuracy_table(runs_by_method: dict[str, list[Run]], class_names) -> pd.DataFrame:
    """Per-class accuracy (%) of each method, clean and under its PGD evaluation, mean over seeds:
    one row per class (``class_names``), columns ``(model, "clean" | "PGD-<k>")``."""
    import numpy as np

    frames = {}
    for method, runs in runs_by_method.items():
        attack = f"PGD-{runs[0].config.eval_steps}"
        frames[METHOD_NAMES.get(method, method)] = pd.DataFrame({
            "clean": 100 - np.mean([r.per_class["clean_err"] for r in runs], axis=0),
            attack: 100 - np.mean([r.per_class["pgd_err"] for r in runs], axis=0)}, index=list(class_names))
    return pd.concat(frames, axis=1)


def adversarial_flow_tables(runs_by_method: dict[str, list[Run]], class_names,
                            top: int = 5) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Where each method's PGD images go, over all its seeds' attacked images
    (:func:`labelaug_core.evaluation.classwise.adversarial_flows`): ``({method: (K, K) share %}, {method:
    the top flows}``)."""
    import numpy as np

    from labelaug_core.evaluation.classwise import adversarial_flows

    matrices, flows = {}, {}
    for method, runs in runs_by_method.items():
        preds = [r.predictions() for r in runs]
        y = np.concatenate([p.y[p.attacked] for p in preds])
        sent = np.concatenate([p.pgd[p.attacked] for p in preds])
        matrices[method], flows[method] = adversarial_flows(y, sent, list(class_names), top=top)
    return matrices, flows


def flow_table(flows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The flows of :func:`adversarial_flow_tables` in one table, index (model, rank)."""
    return pd.concat({METHOD_NAMES.get(m, m): f for m, f in flows.items()}, names=["model", "rank"])


def weight_norm_tables(runs_by_method: dict[str, list[Run]], class_names,
                       data_dir: str | None = None, norms=None) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Per-class robust accuracy (%, 100 - the run's PGD error) against the norm of the class's row of
    the last linear layer (Tian et al.): ``({method: frame of its first seed, columns name, norm,
    robust_acc}``, correlations: one row per (model, seed) with ``pearson_r``, ``pearson_p``,
    ``spearman_rho``, ``spearman_p``, NaN where robust accuracy is the same for every class)``.
    ``norms(run) -> (K,)`` defaults to the trained model's :func:`classifier_weight_norms`."""
    import numpy as np

    from labelaug_core.evaluation.classwise import (
        classifier_weight_norms,
        weight_norm_correlation,
    )

    if norms is None:
        from labelaug_core.runs.store import load_model

        def norms(run):
            return classifier_weight_norms(load_model(run.run_dir, data_dir=data_dir))
    frames, rows = {}, []
    for method, runs in runs_by_method.items():
        for run in runs:
            row_norms = np.asarray(norms(run), dtype=float)
            robust = 100 - run.per_class["pgd_err"].to_numpy(dtype=float)
            corr = (weight_norm_correlation(robust, row_norms) if np.ptp(robust) > 0 and np.ptp(row_norms) > 0
                    else dict.fromkeys(("pearson_r", "pearson_p", "spearman_rho", "spearman_p"), float("nan")))
            rows.append({"model": METHOD_NAMES.get(method, method), "seed": run.config.seed, **corr})
            frames.setdefault(method, pd.DataFrame({"name": list(class_names), "norm": row_norms, "robust_acc": robust}))
    return frames, pd.DataFrame(rows).set_index(["model", "seed"])


def temperature_success_table(sweeps: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Overall attack success (%) of Temperature-PGD: one row per temperature (index ``T``), one column
    per model; each sweep is :func:`labelaug_core.runs.temperature_evaluation`'s table (or a mean of them)."""
    return pd.DataFrame({METHOD_NAMES.get(m, m): s.set_index("temperature")["success_%"]
                         for m, s in sweeps.items()}).rename_axis("T")


def class_list(classes: str) -> list[int]:
    """Class indices of a TrainConfig ``weak_classes`` string, in its order: ``"6,2"`` -> ``[6, 2]``,
    ``""`` -> ``[]``."""
    return [int(k) for k in str(classes).split(",") if k.strip()]


def heldout_error_table(heldout: list[pd.DataFrame], class_names) -> pd.DataFrame:
    """Per-class clean and robust error (%) on the held-out split, mean over ``heldout`` (one
    :func:`labelaug_core.runs.heldout_class_errors` table per seed); one row per class name."""
    import numpy as np

    return pd.DataFrame({"clean_err": np.mean([h["clean_err"] for h in heldout], axis=0),
                         "robust_err": np.mean([h["robust_err"] for h in heldout], axis=0)}, index=list(class_names))


def bias_choices(runs_by_method: dict[str, list[Run]], weak_class: int, biases, *, size: int, steps: int,
                 methods: tuple[str, ...] = ("adv", "advplus"), data_dir: str | None = None,
                 choose=None) -> tuple[dict[tuple[str, int], float], pd.DataFrame]:
    """The logit bias of ``weak_class`` chosen for each run of ``methods`` on its held-out split
    (``choose`` = :func:`labelaug_core.runs.choose_run_bias` by default): ``({(method, seed): bias},
    the candidates' table of each method's first seed, index (model, row))``."""
    if choose is None:
        from labelaug_core.runs.defences import choose_run_bias as choose
    chosen, grids = {}, {}
    for method in methods:
        for run in runs_by_method[method]:
            chosen[(method, run.config.seed)], grid = choose(run, weak_class, biases, size=size, steps=steps,
                                                             data_dir=data_dir)
            grids.setdefault(METHOD_NAMES.get(method, method), grid)
    return chosen, pd.concat(grids, names=["model", "row"])


def defence_rows(runs_by_method: dict[str, list[Run]], weighted: dict[str, list[Run]] | None,
                 chosen: dict[tuple[str, int], float], weak_class: int, num_classes: int,
                 weak_class_weight: float, data_dir: str | None = None) -> dict[str, list[pd.DataFrame]]:
    """Per-class error tables (one per seed) of every model and defence of the weakest-class chapter:
    ``Adv`` and ``Adv+``; with ``weighted`` (the class-weighted runs, or None) ``Adv, loss weight w``
    and ``Adv+, loss weight w``; and ``Adv, logit bias`` / ``Adv+, logit bias`` (the run evaluated
    with the ``chosen`` bias on ``weak_class``, :func:`labelaug_core.runs.evaluate_adjusted`).
    Ready for :func:`labelaug_core.report.defence_table`."""
    from labelaug_core.evaluation.defences import class_bias
    from labelaug_core.runs.defences import evaluate_adjusted

    rows = {"Adv": [r.per_class for r in runs_by_method["adv"]], "Adv+": [r.per_class for r in runs_by_method["advplus"]]}
    if weighted is not None:
        rows[f"Adv, loss weight {weak_class_weight:g}"] = [r.per_class for r in weighted["adv"]]
        rows[f"Adv+, loss weight {weak_class_weight:g}"] = [r.per_class for r in weighted["advplus"]]
    for method in ("adv", "advplus"):
        rows[f"{METHOD_NAMES[method]}, logit bias"] = [
            evaluate_adjusted(r, class_bias(num_classes, [weak_class], chosen[(method, r.config.seed)]), data_dir=data_dir)
            for r in runs_by_method[method]]
    return rows


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

