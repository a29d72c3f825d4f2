"""Evaluation of a model on tensors: metrics (:mod:`.metrics`), the operation output's AUROC
(:mod:`.operation`), paired comparisons (:mod:`.paired`), the strong attack ladder (:mod:`.ladder`,
:mod:`.strong`), gradient-masking checks (:mod:`.checks`), class-wise analyses (:mod:`.classwise`),
corruptions (:mod:`.corruptions`, :mod:`.corrupted_sets`), ImageNet-ReaL/-X (:mod:`.imagenet`) and
weakest-class defences (:mod:`.defences`). Pure functions of a model and images: nothing here knows about
run directories. Import from the modules: this file re-exports nothing.
"""
