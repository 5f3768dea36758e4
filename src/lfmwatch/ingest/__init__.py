"""Getting papers into the store: arXiv polling and JSONL import."""
