"""Chapter 9's Temperature-PGD tables and sentences: the zero-gradient share per T, and T chosen on
held-out images, then reported on the chapter's own images.

Every sweep is a :func:`labelaug_core.runs.strong.temperature_evaluation` table (or a mean of them over
seeds): one row per T with ``temperature``, ``success_%``, ``error_%``, ``zero_grad_%`` and
``zero_grad_ce_%`` (percent), T = 1 included. ``{method: sweep}`` dicts are keyed by run method
(``std``, ``adv``, ``advplus``). The placement of T (the logits divided by T inside the attack loss)
is this project's reading of Tian et al. 2021: where T enters their attack could not be recovered.
"""
from __future__ import annotations

import pandas as pd

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.classwise import choose_temperature
from labelaug_core.report.tables import METHOD_NAMES

# The two loss forms of a sweep's zero-gradient columns, as the tables name them.
GRADIENT_COLUMNS = {"zero_grad_%": "attack loss (log-sum-exp)", "zero_grad_ce_%": "cross-entropy of z / T"}


def _name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def _check(sweeps: dict[str, pd.DataFrame], columns, what: str) -> None:
    for method, sweep in sweeps.items():
        missing = set(columns) - set(sweep.columns)
        if missing or 1.0 not in set(sweep["temperature"] if "temperature" in sweep else ()):
            raise ConfigError(f"{what}[{method!r}] must be a temperature_evaluation table with T = 1 and columns "
                              f"{sorted(columns)}; missing {sorted(missing) or 'the row T = 1'}")


def zero_gradient_table(sweeps: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Share (%) of the images whose input gradient at the clean image is all zero: one row per model
    and loss form (index ``model``, ``loss``: the labels of :data:`GRADIENT_COLUMNS`), one column per T."""
    _check(sweeps, ["temperature", *GRADIENT_COLUMNS], "sweeps")
    rows = {(_name(m), label): s.set_index("temperature")[column]
            for m, s in sweeps.items() for column, label in GRADIENT_COLUMNS.items()}
    table = pd.DataFrame(rows).T
    table.index.names = ["model", "loss"]
    table.columns.name = "T"
    return table


def temperature_error_table(sweeps: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Robust error (%) under Temperature-PGD: rows T (index ``T``), one column per model."""
    _check(sweeps, ["temperature", "error_%"], "sweeps")
    table = pd.DataFrame({_name(m): s.set_index("temperature")["error_%"] for m, s in sweeps.items()})
    table.index.name = "T"
    return table


def temperature_choice_table(heldout: dict[str, pd.DataFrame], reported: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per model (rows): the T chosen on the held-out images (:func:`choose_temperature`: highest
    error, ties to T = 1), the held-out errors (%) at T = 1 and at that T, the reported images' errors
    (%) at T = 1 and at the chosen T and their difference (pp), and, for contrast, the T that would
    be chosen on the reported images themselves (a choice that flatters Temperature-PGD)."""
    _check(heldout, ["temperature", "error_%"], "heldout")
    _check(reported, ["temperature", "error_%"], "reported")
    if set(heldout) != set(reported):
        raise ConfigError(f"heldout and reported must hold the same models; got {sorted(heldout)} and "
                          f"{sorted(reported)}")
    rows = []
    for method, sweep in reported.items():
        chosen = choose_temperature(heldout[method])
        held, rep = heldout[method].set_index("temperature")["error_%"], sweep.set_index("temperature")["error_%"]
        if chosen not in rep.index:
            raise ConfigError(f"reported[{method!r}] must sweep the held-out temperatures; T = {chosen:g} is missing")
        rows.append({"model": _name(method), "T chosen (held-out)": chosen, "held-out err T=1 (%)": held[1.0],
                     "held-out err chosen T (%)": held[chosen], "err T=1 (%)": rep[1.0],
                     "err chosen T (%)": rep[chosen], "change (pp)": rep[chosen] - rep[1.0],
                     "T best on reported images": choose_temperature(sweep)})
    return pd.DataFrame(rows).set_index("model")


def zero_gradient_sentence(sweeps: dict[str, pd.DataFrame]) -> str:
    """Chapter 9: the largest zero-gradient share (%) of the attack's loss at any T against T = 1's,
    and the largest share the cross-entropy of z / T (the underflowing form) would have had, with
    its model and T."""
    table = zero_gradient_table(sweeps)
    attack = table.xs(GRADIENT_COLUMNS["zero_grad_%"], level="loss")
    ce = table.xs(GRADIENT_COLUMNS["zero_grad_ce_%"], level="loss")
    if attack.to_numpy().max() == 0:
        text = "With the attack's loss no image has an all-zero input gradient at any temperature. "
    else:
        text = (f"With the attack's loss at most {attack.to_numpy().max():.1f}% of the images have an all-zero input "
                f"gradient at any temperature (at T = 1: at most {attack[1.0].max():.1f}%). ")
    worst_model, worst_t = ce.stack().idxmax()
    if ce.to_numpy().max() > attack.to_numpy().max():
        return text + (f"The cross-entropy of z / T would have left {ce.loc[worst_model, worst_t]:.1f}% of the "
                       f"{worst_model} images without a gradient at T = {worst_t:g}: PGD would not have moved them "
                       f"from their random start.")
    return text + "The cross-entropy of z / T would not have had more zero gradients on these models."


def temperature_choice_sentences(heldout: dict[str, pd.DataFrame], reported: dict[str, pd.DataFrame],
                                 n_reported: int, n_heldout: int) -> str:
    """Chapter 9: per model, the T chosen on ``n_heldout`` held-out images and what it does on the
    ``n_reported`` reported images against plain PGD (pp), one Markdown bullet each."""
    if n_reported < 1 or n_heldout < 1:
        raise ConfigError(f"n_reported and n_heldout must be >= 1; got {n_reported} and {n_heldout}")
    table = temperature_choice_table(heldout, reported)
    lines = []
    for name, row in table.iterrows():
        chosen = row["T chosen (held-out)"]
        if chosen == 1.0:
            lines.append(f"- **{name}**: no temperature beats plain PGD on the {n_heldout} held-out images, so T = 1 "
                         f"is kept ({row['err T=1 (%)']:.1f}% error on the {n_reported} reported images).")
        else:
            lines.append(f"- **{name}**: T = {chosen:g} is chosen on the {n_heldout} held-out images "
                         f"({row['held-out err chosen T (%)']:.1f}% error against "
                         f"{row['held-out err T=1 (%)']:.1f}% at T = 1); on the {n_reported} reported images it gives {row['err chosen T (%)']:.1f}% against "
                         f"{row['err T=1 (%)']:.1f}% for plain PGD ({row['change (pp)']:+.1f} pp).")
    return "\n".join(lines)
