"""A small classifier trained on the curated data: splits, a linear probe and a fine-tune,
honest metrics, and predictions written back for the next review round."""
