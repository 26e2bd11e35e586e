"""Export commands of a checkout: `python -m export.export_hub --workdir=DIR --output=DIR`.

Each module here is a thin entry point that runs `tfbiggan.export.<same name>`, where the code
lives. This folder is not installed (an installed tfbiggan offers only the `tfbiggan` package):
there, run `python -m tfbiggan.export.export_hub` instead.
"""

# First, before TensorFlow: `python -m export.export_hub` starts quietly (tfbiggan/startup.py).
import tfbiggan  # noqa: F401  pylint: disable=unused-import
