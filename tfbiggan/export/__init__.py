"""Export of trained generators as SavedModels compatible with the BigGAN TF-Hub modules.

`tfbiggan.export.export_hub` holds the implementation and the command line. The `export/`
folder of a checkout keeps the short commands (`python -m export.export_hub`), which run this
code; that folder is not installed, so an installed tfbiggan adds no top-level name but its own.
"""
