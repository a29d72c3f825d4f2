"""Data sets: one record each (:mod:`.registry`), their file formats (:mod:`.formats`), where they are
(:mod:`.sources`), what a run read (:mod:`.identity`), reading the small sets (:mod:`.readers`), folder
data sets (:mod:`.folders`), deterministic sampling (:mod:`.sampling`) and the loaders (:mod:`.loaders`).
"""
