"""Chapter 6, the reproduction report: this profile's runs against the paper and the verdict over
seeds and protocols from published results (:mod:`.reproduction`), and label augmentation as its
authors designed it, screened and confirmed (:mod:`.design`).
"""
