"""The book: experiment plans (:mod:`.plan`), the build (:mod:`.build`) and its progress (:mod:`.progress`).
Import from the modules: this file re-exports nothing.
"""
