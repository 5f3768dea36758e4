"""The model: features, classifier, thresholds, fitting, evaluation; only `examples` and model files touch IO."""
