"""Replaying history through the real selection, against baselines, with a report."""
