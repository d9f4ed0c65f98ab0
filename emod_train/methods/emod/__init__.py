"""EMOD: the backbone (convolution tokens and Spatial-Temporal Transformer), its V-A soft contrastive
loss, augmentations and pretraining."""
