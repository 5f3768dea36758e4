"""lfmwatch: watches arXiv for papers that belong in the Learn-from-Model awesome list."""

__version__ = "0.1.0"
