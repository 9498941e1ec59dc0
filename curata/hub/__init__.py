"""Publish versioned datasets in Hugging Face Datasets format (parquet and a dataset card) to the
Hub or a local git repository, and pull any version back."""
