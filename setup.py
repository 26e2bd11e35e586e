"""Packaging: everything is declared in setup.cfg; this file adds one build step.

The experiment configs live in `configs/` at the top of the checkout, the files users read and
edit. The build copies them into the package as `tfbiggan/configs/`, so that an installed
wheel has them too and `--config=digits` finds them (`tfbiggan.cli.resolve_config`).
"""

import glob
import os

import setuptools
from setuptools.command.build_py import build_py

CONFIGS = "configs"


class BuildPyWithConfigs(build_py):
    """`build_py` that also copies configs/*.py to tfbiggan/configs/ in the build."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "tfbiggan", CONFIGS)
        self.mkpath(target)
        for source in sorted(glob.glob(os.path.join(CONFIGS, "*.py"))):
            self.copy_file(source, os.path.join(target, os.path.basename(source)))

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        return outputs + [os.path.join(self.build_lib, "tfbiggan", CONFIGS, os.path.basename(p))
                          for p in sorted(glob.glob(os.path.join(CONFIGS, "*.py")))]


setuptools.setup(cmdclass={"build_py": BuildPyWithConfigs})
