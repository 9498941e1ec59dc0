"""Image embeddings (open_clip, or the offline EfficientNet-Lite0), with clusters, outlier
scores and suspected mislabels with a suggested label."""
