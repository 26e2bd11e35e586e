"""python -m export.export_hub --workdir=DIR --output=DIR [--step=N] [--bank_batches=16]

Writes a training workdir's EMA generator as a TF-Hub-style SavedModel. This entry point of a
checkout runs `tfbiggan.export.export_hub` (the implementation, documented there), whose public
names it also offers; an installed package runs `python -m tfbiggan.export.export_hub`.
"""

from tfbiggan.export.export_hub import (  # noqa: F401  pylint: disable=unused-import
    OUTPUT_KEY, BigGANHubModule, batch_norm_statistics, build_module, export_generator, main,
    run)

if __name__ == "__main__":
    run()
