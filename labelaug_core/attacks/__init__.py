"""Attacks under one threat model (:mod:`.threat`): FGSM and PGD (:mod:`.pgd`), APGD (:mod:`.apgd`),
the worst-case ensemble (:mod:`.ensemble`), the black-box Square attack (:mod:`.square`) and the
authors' attack as a named variant (:mod:`.paper_style`). Pure tensor functions: nothing here reads or
writes files. Import from the modules (``from labelaug_core.attacks.pgd import pgd``): this file
re-exports nothing.
"""
