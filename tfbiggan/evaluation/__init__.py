"""Evaluation runs: sample a generator, extract features, compute the metrics of SPEC §7, each
beside its real-vs-real value.

    suite = suite_for(data_config, resolution=32, num_samples=10000)   # or fashion_mnist_suite()
    results = evaluate_suite(generator, suite, truncations=(0.3, 0.6, 1.0))
    print("\\n".join(format_table(results)))

One responsibility per module: `generation` (samples of generators and exported modules),
`replicas` (batches split over a strategy's replicas), `reference` (real images, their
fingerprints and cached statistics), `registry` (the metrics by name), `run` (`evaluate`),
`sweep` (the truncation sweep), `report` (tables, CSV, plots), `suites` (the feature network
and real splits of a data set).
"""

from tfbiggan.evaluation.generation import balanced_classes
from tfbiggan.evaluation.generation import bank_is_filled
from tfbiggan.evaluation.generation import is_exported_module
from tfbiggan.evaluation.generation import iter_samples
from tfbiggan.evaluation.generation import sample_images
from tfbiggan.evaluation.generation import source_info
from tfbiggan.evaluation.reference import RealImages
from tfbiggan.evaluation.reference import feature_network_name
from tfbiggan.evaluation.reference import reference_statistics
from tfbiggan.evaluation.registry import METRICS
from tfbiggan.evaluation.registry import VARIETY_METRICS
from tfbiggan.evaluation.replicas import SplitOverReplicas
from tfbiggan.evaluation.replicas import split_over_replicas
from tfbiggan.evaluation.report import format_table
from tfbiggan.evaluation.report import plot_truncation_curve
from tfbiggan.evaluation.report import read_curve_csv
from tfbiggan.evaluation.report import write_curve_csv
from tfbiggan.evaluation.run import ceiling_classes
from tfbiggan.evaluation.run import check_metric_names
from tfbiggan.evaluation.run import evaluate
from tfbiggan.evaluation.suites import STANDARD_METRICS
from tfbiggan.evaluation.suites import Suite
from tfbiggan.evaluation.suites import data_suite
from tfbiggan.evaluation.suites import digits_suite
from tfbiggan.evaluation.suites import evaluate_digits
from tfbiggan.evaluation.suites import evaluate_suite
from tfbiggan.evaluation.suites import fashion_mnist_suite
from tfbiggan.evaluation.suites import suite_for
from tfbiggan.evaluation.sweep import DEFAULT_TRUNCATIONS
from tfbiggan.evaluation.sweep import truncation_sweep
