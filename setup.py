"""Packaging: everything is declared in pyproject.toml, except one step setuptools cannot.

The default message templates and the example runbooks stay at the repository's top level
(``templates/``, ``runbooks/``: part of the public layout), and a wheel must carry them so
that an installed releasebot can run ``demo`` and ``check`` from any folder. This build step
copies them into the wheel as ``bot/shipped/templates`` and ``bot/shipped/runbooks``, where
``bot.resources`` finds them (in a source checkout it finds the top-level folders instead).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = {"templates": "*.json.j2", "runbooks": "*.yaml"}


class BuildWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the folders
            return
        for folder, pattern in SHIPPED.items():
            target = Path(self.build_lib) / "bot" / "shipped" / folder
            target.mkdir(parents=True, exist_ok=True)
            for source in sorted(Path(folder).glob(pattern)):
                shutil.copy2(source, target / source.name)


setup(cmdclass={"build_py": BuildWithShippedFiles})
