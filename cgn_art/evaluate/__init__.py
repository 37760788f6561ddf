"""Evaluation apart from training: judges trained on real data only, and the metrics they score."""
