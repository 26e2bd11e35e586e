"""python -m export.convert_pretrained --source=PATH --output=DIR [--verify]

Converts a published BigGAN (a DeepMind TF-Hub module, a pytorch-pretrained-BigGAN directory
or BigGAN-PyTorch weights) into a tfbiggan workdir, a `.keras` generator and a TF-Hub module.
This entry point of a checkout runs `tfbiggan.export.convert_pretrained` (the implementation,
documented there), whose public names it also offers; an installed package runs `python -m
tfbiggan.export.convert_pretrained` or `tfbiggan-convert`.
"""

from tfbiggan.export.convert_pretrained import (  # noqa: F401  pylint: disable=unused-import
    CONVERSION_FILE, HUB_DIR, VerificationError, convert_pretrained, main, run)

if __name__ == "__main__":
    run()
