"""The default model as package data: `pip install lfmwatch` ships this directory as `lfmwatch._default_model` (setup.py)."""
