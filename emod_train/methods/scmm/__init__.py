"""SCMM: the DE-feature encoder with masking and reconstruction, its contrastive loss, and pretraining."""
