"""Package layout that pyproject.toml cannot express: the default model in models/ ships as package data.

`models/` stays the single copy of the default model (lfm-model.npz and its card); the wheel maps it onto the
package `lfmwatch._default_model`, so `pip install lfmwatch` brings a model that works from any directory.
Everything else (metadata, dependencies, entry points) is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages("src"), "lfmwatch._default_model"],
    package_dir={"": "src", "lfmwatch._default_model": "models"},
    package_data={
        "lfmwatch": ["templates/*", "py.typed"],
        # Only the model and its card: training bundles and notes under models/ stay out of the wheel.
        "lfmwatch._default_model": ["lfm-model.npz", "lfm-model.card.json"],
    },
    include_package_data=False,
)
