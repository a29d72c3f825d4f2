"""The run store and the run-level studies: run directories (:mod:`.store`), training a run
(:mod:`.training`), its evaluation (:mod:`.evaluation`) under the evaluation protocol (:mod:`.protocol`),
screens (:mod:`.screen`), the cached studies built on them (:mod:`.strong`, :mod:`.paper_style`,
:mod:`.defences`, :mod:`.corruptions`, :mod:`.imagenet`), what is stale (:mod:`.status`) and the
published results (:mod:`.published`). Import from the modules: this file re-exports nothing.
"""
