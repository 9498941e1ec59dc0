"""Find what a reviewer must look at: exact and perceptual-hash duplicates, image-quality
issues (cleanvision's issue types) and cross-class label conflicts, stored as fields, tags and
saved views."""
