"""Timings of the metrics: FID at full scale and the digits feature-extraction rate.

Run from the repository root:
    python -m benchmarks.metrics            # FID on 2 × 50,000 × 2,048 features
    python -m benchmarks.metrics --quick    # small sizes, as in CI
"""

import argparse
import os
import shlex
import sys
import time

if not __package__:  # Run as a script: make the repository importable.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from tfbiggan import metrics  # noqa: E402
from tfbiggan.data import digits as digits_data  # noqa: E402


def _random_features(rng, num, dim, scale, shift, chunk=8192):
    """Seeded float32 features built chunk by chunk (no float64 copy of the whole set)."""
    out = np.empty((num, dim), np.float32)
    for start in range(0, num, chunk):
        rows = min(chunk, num - start)
        out[start:start + rows] = rng.standard_normal((rows, dim), dtype=np.float32)
    out *= scale
    out += shift
    return out


def benchmark_fid(num, dim, seed):
    rng = np.random.default_rng(seed)
    act1 = _random_features(rng, num, dim, 1.0, 0.0)
    act2 = _random_features(rng, num, dim, 1.1, 0.05)
    start = time.perf_counter()
    mu1, sigma1 = metrics.compute_statistics(act1)
    mu2, sigma2 = metrics.compute_statistics(act2)
    stats_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fid = metrics.frechet_distance(mu1, sigma1, mu2, sigma2)
    distance_seconds = time.perf_counter() - start
    # Two independent N(0, I) and N(0.05, 1.21 I) samples: FID ≈ d·(0.05² + 0.1²).
    return {"fid": fid, "expected_fid": dim * (0.05 ** 2 + 0.1 ** 2),
            "statistics_s": stats_seconds, "distance_s": distance_seconds}


def benchmark_digits(num_images, batch_size, resolution, cache_dir):
    start = time.perf_counter()
    classifier = metrics.load_digits_classifier(resolution, cache_dir=cache_dir)
    load_seconds = time.perf_counter() - start
    images, _ = digits_data.load_digits_images(resolution, channels=3)
    images = np.resize(images, (num_images,) + images.shape[1:])  # Repeat to the count.
    metrics.extract_features(classifier, images[:batch_size], batch_size)  # Warm-up trace.
    start = time.perf_counter()
    features, _ = metrics.extract_features(classifier, images, batch_size)
    seconds = time.perf_counter() - start
    return {"load_or_train_s": load_seconds, "images": features.shape[0],
            "extract_s": seconds, "images_per_s": features.shape[0] / seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--num", type=int, default=None, help="features per set")
    parser.add_argument("--dim", type=int, default=None, help="feature dimension")
    parser.add_argument("--digits_images", type=int, default=None)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--cache_dir", default=None,
                        help="digits classifier cache (default ~/.cache/tfbiggan)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    num = args.num or (5_000 if args.quick else 50_000)
    dim = args.dim or (256 if args.quick else 2_048)
    digits_images = args.digits_images or (2_000 if args.quick else 20_000)

    command = "python -m benchmarks.metrics " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    print(f"command: {command.strip()}")
    print(f"machine: {os.cpu_count()} CPU cores visible; numpy {np.__version__}")

    fid = benchmark_fid(num, dim, args.seed)
    print(f"FID, 2 sets of {num:,} x {dim:,} float32 features (seed {args.seed}):")
    print(f"  statistics (mean + covariance, float64, both sets): {fid['statistics_s']:.2f} s")
    print(f"  Frechet distance (two {dim}x{dim} symmetric eigendecompositions): "
          f"{fid['distance_s']:.2f} s")
    print(f"  total: {fid['statistics_s'] + fid['distance_s']:.2f} s; FID = {fid['fid']:.4f} "
          f"(population value {fid['expected_fid']:.4f}, plus a small-sample bias)")

    rate = benchmark_digits(digits_images, 256, args.resolution, args.cache_dir)
    print(f"digits classifier at {args.resolution}x{args.resolution}:")
    print(f"  load (or train on first use): {rate['load_or_train_s']:.2f} s")
    print(f"  feature extraction: {rate['images']:,} images in {rate['extract_s']:.2f} s = "
          f"{rate['images_per_s']:,.0f} images/s (batch 256)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
