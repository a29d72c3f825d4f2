"""What the book shows, one module per study (roughly one per chapter), each with its tables,
figures and sentences: :mod:`.attacks` (chapter 1), :mod:`.targets` (2), :mod:`.average_error` (3),
:mod:`.classwise_error` (4), :mod:`.delta` (5), :mod:`.verdict` (6: :mod:`.verdict.reproduction`,
:mod:`.verdict.design`), :mod:`.corruptions` (7), :mod:`.imagenet` (8), :mod:`.classwise_robustness`
and :mod:`.temperature` (9), :mod:`.trustworthy` and :mod:`.paper_style` (10), :mod:`.defences` (11)
and :mod:`.performance` (12); shared by them: :mod:`.style` (palette, names, formatting),
:mod:`.paper` (the paper's numbers), :mod:`.comparisons` (method against method, paired, in words)
and :mod:`.widgets` (figures as PNG, sliders and selectors that work in the static HTML).

Nothing here trains, attacks or loads a model: what evaluates lives in :mod:`labelaug_core.runs`
(run directories, models, cached studies; :mod:`labelaug_core.runs.collect` gathers runs) and
:mod:`labelaug_core.evaluation` (pure functions of tensors and arrays). Modules are imported by
path (``from labelaug_core.report.delta import delta_explorer_figures``); this package re-exports
nothing.
"""
