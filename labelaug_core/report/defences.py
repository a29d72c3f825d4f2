"""Tables of the weakest-class defences, beside published peers."""
from __future__ import annotations

import numpy as np
import pandas as pd

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
