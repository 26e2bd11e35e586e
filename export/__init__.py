"""Export of trained generators as SavedModels compatible with the BigGAN TF-Hub modules."""

# First, before TensorFlow: `python -m export.export_hub` starts quietly (tfbiggan/startup.py).
import tfbiggan  # noqa: F401  pylint: disable=unused-import
