"""``labelaug bench``: timing primitives (:mod:`.timing`), workloads (:mod:`.workloads`), the run
(:mod:`.run`), and reading results back (:mod:`.results`). Import from the modules: this file re-exports
nothing.
"""
