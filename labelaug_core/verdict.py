"""An evaluation strong enough to trust, and the verdict on the paper's robustness claim.

The paper (Amerehi & Healy 2025, Table 1) reports a 53.5% relative drop in PGD-40 error from
Adv to Adv+. A gain measured with one attack can be a gain against that attack only, so this
module evaluates every model with a ladder of attacks, weakest to strongest, on the same
examples:

- ``clean``, ``fgsm``, ``pgd-10``, ``pgd-40`` (one random start, ``alpha = 2.5 eps / steps``);
- ``ensemble``: the per-example worst case of PGD-40, PGD-40 with restarts, APGD-CE and APGD-T
  (targeted DLR), in the manner of AutoAttack (Croce & Hein 2020), via
  :func:`labelaug_core.apgd.ensemble_attack`.

The per-example results are cached in the run directory (``evals/strong-*.json`` + ``.npz``)
and a cached file is never recomputed, so a notebook re-executes in seconds. The verdict
compares Adv+'s gain over Adv under PGD-40 with the same gain under the ensemble.

Threat model as in :mod:`labelaug_core.attacks`: images and eps on the [0, 1] pixel scale, the
attack loss on the first K logits (``logits="classes"``) or on all K + M (``"all"``). Errors
are percentages (0-100), differences of errors percentage points (pp).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from labelaug_core.apgd import DEFAULT_ENSEMBLE, ensemble_attack, seeded_pgd
from labelaug_core.attacks import LOGITS, fgsm
from labelaug_core.checks import checks_frame, run_masking_checks
from labelaug_core.classwise import temperature_sweep
from labelaug_core.data import make_loader
from labelaug_core.errors import ConfigError
from labelaug_core.evaluate import per_class_error
from labelaug_core.reporting import error_difference
from labelaug_core.runs import Run, load_model, write_json_atomic

LADDER = ("clean", "fgsm", "pgd-10", "pgd-40", "ensemble")


@dataclass(frozen=True)
class StrongEval:
    """Per-example results of the attack ladder on N test images of one model.

    ``wrong``: rung name (:data:`LADDER`) -> (N,) bool, True where that attack (alone) makes the
    example an error (clean mistakes count for every rung); plus ``member:<name>`` -> (N,) bool
    for each ensemble member: the examples it fooled that no earlier member had (the ensemble
    runs as a cascade). ``y`` and ``ensemble_pred`` (the class the worst-case image is sent to)
    are (N,) int64. ``settings`` records everything that determined the result.
    """

    settings: dict
    y: np.ndarray
    wrong: dict[str, np.ndarray]
    ensemble_pred: np.ndarray
    time_s: float

    def errors(self) -> dict[str, float]:
        """Error (%) of each rung and member."""
        return {name: 100.0 * float(w.mean()) for name, w in self.wrong.items()}

    def per_class_errors(self, num_classes: int) -> pd.DataFrame:
        """(K rows) per-class error (%) of each rung: columns ``<rung>_err``."""
        return pd.DataFrame({f"{r}_err": per_class_error(self.y, np.where(self.wrong[r], -1, self.y), num_classes)
                             for r in LADDER})


def run_test_images(config, n: int, *, data_dir: str | None = None, device: str | torch.device = "cpu",
                    parameter: str = "strong_subset"):
    """The first ``n`` images of a run's (class-balanced) test subset, in the order
    :func:`labelaug_core.runs.evaluate_run` attacks them (its PGD-40 uses the first ``eval_subset``).

    Returns x (n, C, H, W) float in [0, 1] and y (n,) int64 on ``device``. ``parameter`` names
    ``n`` in the error raised when it is < 1 or larger than the test subset.
    """
    if n < 1:
        raise ConfigError(f"{parameter} must be >= 1; got {n}")
    loader = make_loader(config.dataset, "test", 500, train=False, data_dir=data_dir, device=device,
                         seed=config.seed, subset=config.test_subset, image_size=config.image_size or None)
    xs, ys, seen = [], [], 0
    for x, y in loader:
        xs.append(x[: n - seen])
        ys.append(y[: n - seen])
        seen += len(ys[-1])
        if seen >= n:
            break
    if seen < n:
        raise ConfigError(f"{parameter} must be at most {seen} (the run's test subset); got {n}")
    return torch.cat(xs), torch.cat(ys)


def settings_digest(settings: dict) -> str:
    """8 hex digits of a JSON-able dict's hash: names a cached evaluation by everything that made it."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


def cached_table(path: Path | str, compute) -> pd.DataFrame:
    """``compute()``'s table, written to ``path`` (CSV) once; an existing file is read, never recomputed."""
    path = Path(path)
    if path.exists():
        return pd.read_csv(path)
    frame = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return frame


def _load_strong(path: Path) -> StrongEval:
    meta = json.loads(path.read_text())
    with np.load(path.with_suffix(".npz")) as f:
        wrong = {name: f[f"wrong/{name}"] for name in meta["wrong"]}
        return StrongEval(meta["settings"], f["y"], wrong, f["ensemble_pred"], meta["time_s"])


def _save_strong(path: Path, result: StrongEval) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"wrong/{name}": w for name, w in result.wrong.items()}
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, y=result.y, ensemble_pred=result.ensemble_pred, **arrays)
    tmp.replace(path.with_suffix(".npz"))
    # The JSON is written last: its presence marks a finished evaluation.
    write_json_atomic(path, {"settings": result.settings, "time_s": result.time_s, "wrong": list(result.wrong),
                             "errors": result.errors()})


def _wrong(model, x_adv: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return (model(x_adv)[:, : model.num_classes].argmax(1) != y).cpu().numpy()


def strong_eval(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    logits: str = "classes",
    attacks: tuple[str, ...] = DEFAULT_ENSEMBLE,
    apgd_steps: int = 100,
    pgd_restarts: int = 5,
    n_target_classes: int = 9,
    seed: int = 0,
    batch_size: int = 500,
    cache: Path | str | None = None,
    settings: dict | None = None,
) -> StrongEval:
    """The attack ladder (:data:`LADDER`) on (x, y); read from ``cache`` if that file exists.

    Args:
        model: returns (B, K + M) logits and has ``num_classes`` (K) and ``num_ops`` (M).
        x: (N, C, H, W) images in [0, 1].  y: (N,) int64 labels.  eps: L-inf radius, pixel units.
        logits: ``"classes"`` (first K) or ``"all"`` (K + M): the loss every attack maximises.
        attacks, apgd_steps, pgd_restarts, n_target_classes: the ensemble's members and budget
            (:func:`labelaug_core.apgd.ensemble_attack`; run as a cascade, so each member attacks
            only what the earlier ones left).
        seed: seeds every attack's random start. batch_size: images attacked at once.
        cache: a ``.json`` path; if it exists it is returned as is (never recomputed), else the
            result is written there (+ a ``.npz`` beside it).
        settings: extra entries recorded in ``StrongEval.settings`` (e.g. the run id).
    """
    if logits not in LOGITS:
        raise ConfigError(f"logits must be one of {', '.join(LOGITS)}; got {logits!r}")
    if eps <= 0:
        raise ConfigError(f"eps must be > 0 (pixel units); got {eps}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
    cache = Path(cache) if cache is not None else None
    if cache is not None and cache.exists():
        return _load_strong(cache)
    started = time.perf_counter()
    k = model.num_classes
    parts: dict[str, list[torch.Tensor]] = {}
    preds = []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        with torch.no_grad():
            out = {"clean": model(xb)[:, :k].argmax(1) != yb}
        for name, x_adv in (("fgsm", fgsm(model, xb, yb, eps, logits=logits)),
                            ("pgd-10", seeded_pgd(model, xb, yb, eps, 10, logits=logits, seed=seed))):
            with torch.no_grad():
                out[name] = model(x_adv)[:, :k].argmax(1) != yb
        x_worst, fooled_by = ensemble_attack(
            model, xb, yb, eps, attacks=attacks, logits=logits, apgd_steps=apgd_steps, pgd_restarts=pgd_restarts,
            n_target_classes=n_target_classes, cascade=True, seed=seed)
        with torch.no_grad():
            preds.append(model(x_worst)[:, :k].argmax(1).cpu())
        if attacks[0] == "pgd-40":  # the first member attacks every example: its entry is PGD-40's own error
            out["pgd-40"] = fooled_by["pgd-40"]
        out["ensemble"] = torch.stack(list(fooled_by.values())).any(0)
        for name in attacks:
            out[f"member:{name}"] = fooled_by[name] & ~fooled_by["clean"]
        for name, w in out.items():
            parts.setdefault(name, []).append(w.cpu())
    wrong = {name: torch.cat(ws).numpy() for name, ws in parts.items()}
    if "pgd-40" not in wrong:  # an ensemble without PGD-40 first: the ladder's rung is run alone
        wrong["pgd-40"] = np.concatenate([_wrong(model, seeded_pgd(model, x[i:i + batch_size], y[i:i + batch_size], eps,
                                                                   40, logits=logits, seed=seed), y[i:i + batch_size])
                                          for i in range(0, len(x), batch_size)])
    wrong = {name: wrong[name] for name in LADDER} | {n: w for n, w in wrong.items() if n.startswith("member:")}
    recorded = dict(settings or {}) | {
        "eps": eps, "logits": logits, "attacks": list(attacks), "apgd_steps": apgd_steps,
        "pgd_restarts": pgd_restarts, "n_target_classes": n_target_classes, "seed": seed, "n": int(len(y)),
    }
    result = StrongEval(recorded, y.cpu().numpy(), wrong, torch.cat(preds).numpy(), time.perf_counter() - started)
    if cache is not None:
        _save_strong(cache, result)
    return result


def strong_evaluation(
    run: Run,
    *,
    n: int,
    logits: str = "classes",
    apgd_steps: int = 100,
    pgd_restarts: int = 5,
    n_target_classes: int = 9,
    seed: int = 0,
    batch_size: int = 500,
    data_dir: str | None = None,
    device: str | None = None,
) -> StrongEval:
    """:func:`strong_eval` of a run's model on the first ``n`` images of its test subset, at its eps;
    ``n = 0``: the images its own PGD evaluation attacked (``eval_subset``).

    Cached as ``<run_dir>/evals/strong-<logits>-n<n>-apgd<apgd_steps>-<hash>.json`` (+ ``.npz``),
    the hash covering every setting; a cached result is returned without loading the model.
    """
    n = n or int(run.metrics["n_attacked"])
    settings = {"run_id": run.run_id, "eps": run.config.eps, "logits": logits, "attacks": list(DEFAULT_ENSEMBLE),
                "apgd_steps": apgd_steps, "pgd_restarts": pgd_restarts, "n_target_classes": n_target_classes,
                "seed": seed, "n": n}
    cache = Path(run.run_dir) / "evals" / f"strong-{logits}-n{n}-apgd{apgd_steps}-{settings_digest(settings)}.json"
    if cache.exists():
        return _load_strong(cache)
    model = load_model(run.run_dir, device, data_dir=data_dir)
    x, y = run_test_images(run.config, n, data_dir=data_dir, device=next(model.parameters()).device)
    return strong_eval(model, x, y, run.config.eps, logits=logits, apgd_steps=apgd_steps, pgd_restarts=pgd_restarts,
                       n_target_classes=n_target_classes, seed=seed, batch_size=batch_size, cache=cache,
                       settings={"run_id": run.run_id})


def worst_of(a: StrongEval, b: StrongEval) -> StrongEval:
    """Per-example worst case of two evaluations of the same examples (e.g. attacking the first K
    logits and all K + M): an example is an error of a rung if either evaluation has it wrong."""
    if a.y.shape != b.y.shape or not (a.y == b.y).all():
        raise ConfigError("worst_of: the two evaluations must be of the same examples")
    wrong = {r: a.wrong[r] | b.wrong[r] for r in LADDER}
    pred = np.where(a.wrong["ensemble"], a.ensemble_pred, b.ensemble_pred)
    return StrongEval({"worst_of": [a.settings, b.settings]}, a.y, wrong, pred, a.time_s + b.time_s)


def masking_checks(
    run: Run,
    *,
    n: int,
    logits: str = "classes",
    white_box_wrong: np.ndarray | None = None,
    transfer_run: Run | None = None,
    apgd_steps: int = 100,
    step_counts: tuple[int, ...] = (10, 40, 100),
    square_queries: int = 1000,
    seed: int = 0,
    data_dir: str | None = None,
    device: str | None = None,
) -> pd.DataFrame:
    """:func:`labelaug_core.checks.run_masking_checks` on the first ``n`` test images of a run, cached.

    ``white_box_wrong``: (>= n,) bool, the examples a white-box evaluation of the same images got
    wrong (e.g. ``strong.wrong["ensemble"]``), so the ensemble is not run again. ``n = 0``: as many
    images as ``white_box_wrong`` has (else as the run's own PGD evaluation attacked). ``transfer_run``:
    the source model of the transfer (black-box) check. Cached as
    ``<run_dir>/evals/checks-<logits>-n<n>-<hash>.csv``; returns :func:`checks_frame`'s table.
    """
    if n == 0:
        n = len(white_box_wrong) if white_box_wrong is not None else int(run.metrics["n_attacked"])
    if white_box_wrong is not None and len(white_box_wrong) < n:
        raise ConfigError(f"checks_subset must be at most {len(white_box_wrong)} (the white-box evaluation's images); got {n}")
    settings = {"run_id": run.run_id, "logits": logits, "n": n, "apgd_steps": apgd_steps,
                "step_counts": list(step_counts), "square_queries": square_queries, "seed": seed,
                "transfer": transfer_run.run_id if transfer_run is not None else None,
                "white_box": None if white_box_wrong is None else hashlib.sha1(
                    np.asarray(white_box_wrong[:n], dtype=bool).tobytes()).hexdigest()[:8]}

    def compute() -> pd.DataFrame:
        model = load_model(run.run_dir, device, data_dir=data_dir)
        dev = next(model.parameters()).device
        x, y = run_test_images(run.config, n, data_dir=data_dir, device=dev)
        transfer = load_model(transfer_run.run_dir, device, data_dir=data_dir) if transfer_run is not None else None
        wb = None if white_box_wrong is None else torch.as_tensor(np.asarray(white_box_wrong[:n], dtype=bool), device=dev)
        return checks_frame(run_masking_checks(model, x, y, run.config.eps, logits=logits, transfer_model=transfer,
                                               white_box_wrong=wb, apgd_steps=apgd_steps, step_counts=step_counts,
                                               square_queries=square_queries, seed=seed))

    return cached_table(Path(run.run_dir) / "evals" / f"checks-{logits}-n{n}-{settings_digest(settings)}.csv", compute)


def temperature_evaluation(run: Run, *, n: int, temperatures, steps: int | None = None, seed: int = 0,
                           data_dir: str | None = None, device: str | None = None) -> pd.DataFrame:
    """:func:`labelaug_core.classwise.temperature_sweep` of a run's model on the first ``n`` images of
    its test subset (``n = 0``: the images its own PGD evaluation attacked), at its eps and ``steps``
    (default: its ``eval_steps``), T = 1 always included.

    Cached as ``<run_dir>/evals/temperature-n<n>-pgd<steps>-<hash>.csv``.
    """
    steps = run.config.eval_steps if steps is None else steps
    n = n or int(run.metrics["n_attacked"])
    temperatures = sorted({float(t) for t in temperatures} | {1.0})
    settings = {"run_id": run.run_id, "n": n, "steps": steps, "temperatures": temperatures, "seed": seed}

    def compute() -> pd.DataFrame:
        model = load_model(run.run_dir, device, data_dir=data_dir)
        x, y = run_test_images(run.config, n, data_dir=data_dir, device=next(model.parameters()).device)
        return temperature_sweep(model, x, y, eps=run.config.eps, steps=steps, temperatures=temperatures, seed=seed)

    return cached_table(Path(run.run_dir) / "evals" / f"temperature-n{n}-pgd{steps}-{settings_digest(settings)}.csv",
                        compute)


# --- The per-class ladder (Tian et al. 2021: stronger attacks gain on the vulnerable classes) -------

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


# --- The verdict ---------------------------------------------------------------------------------

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
    (pp; positive: Adv+ more robust), ``relative_*`` = that gain / Adv error (%, the paper's
    53.5% for PGD-40), ``se_ensemble`` the binomial standard error (pp) of the ensemble gain
    treating the two models' errors as independent, ``retained`` = gain_ensemble / gain_pgd40.

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
    rel = lambda before, gain: 100.0 * gain / before if before > 0 else float("nan")  # noqa: E731
    return {"gain_pgd40": gain_pgd, "gain_ensemble": gain_ens, "relative_pgd40": rel(adv_pgd40, gain_pgd),
            "relative_ensemble": rel(adv_ensemble, gain_ens), "se_ensemble": se, "retained": retained,
            "outcome": outcome}


def verdict_sentence(v: dict) -> str:
    """One Markdown paragraph stating :func:`claim_verdict`'s result from its numbers."""
    def gap(gain: float) -> str:
        return f"{abs(gain):.2f} pp {'below' if gain >= 0 else 'above'} Adv's"

    head = (f"Under PGD-40, Adv+'s error is {gap(v['gain_pgd40'])} ({v['relative_pgd40']:.1f}% relative drop; "
            f"the paper: 53.5%). Under the strong ensemble it is {gap(v['gain_ensemble'])} "
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
