"""Quality goals of the class-conditional BigGAN recipes, against training time.

Trains a config, evaluating its EMA generator (truncation bank filled) with the data set's
evaluation suite at set points of training wall time, and checks the goals at the budget:

    python -m benchmarks.variety --dataset=fashion_mnist --budget_minutes=10 \\
        --curve_minutes=30 --eval_minutes=2.5,5,10,15,20,30 --workdir=/tmp/variety_fmnist
    python -m benchmarks.variety --dataset=digits --budget_minutes=2.5 --workdir=/tmp/v_digits
    python -m benchmarks.variety --quick                   # a few steps, as in CI

Training time is the wall time of the trainer's calls (data, compilation, checkpoints
included; evaluations excluded). Every figure is printed beside its real-vs-real value; the
goals compare with those (SPEC §7). Results go to WORKDIR/variety.json and the FID-against-time
plot to WORKDIR/fid_against_time.png.
"""

import argparse
import json
import os
import shlex
import sys
import time

if not __package__:  # Run as a script: make the repository importable.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import common  # noqa: E402

SWEEP = (1.0, 0.8, 0.6, 0.4, 0.3)


def goals(dataset, figures, sweep_rows):
    """[(goal, value text, passed)] of the issue's goals at the training budget."""
    f = figures
    checks = []

    def ratio(key):
        return f[key] / f[f"{key}_real"] if f.get(f"{key}_real") else float("nan")

    if dataset == "fashion_mnist":
        accuracy = f.get("classifier_accuracy", float("nan"))
        checks += [
            ("class consistency >= 0.9 x classifier accuracy",
             f"{f['class_consistency']:.3f} / {accuracy:.3f} = {f['class_consistency'] / accuracy:.3f}",
             f["class_consistency"] >= 0.9 * accuracy),
            ("recall >= 0.6 x real", f"{ratio('recall'):.3f}", ratio("recall") >= 0.6),
            ("precision >= 0.7 x real", f"{ratio('precision'):.3f}", ratio("precision") >= 0.7),
            ("coverage >= 0.6 x real", f"{ratio('coverage'):.3f}", ratio("coverage") >= 0.6),
            ("within-class variety in [0.7, 1.3] in every class",
             f"{f['variety_min']:.3f} .. {f['variety_max']:.3f}",
             0.7 <= f["variety_min"] and f["variety_max"] <= 1.3),
        ]
    else:
        checks += [
            ("within-class variety >= 0.6 of real (least varied class)",
             f"{f['variety_min']:.3f}", f["variety_min"] >= 0.6),
            ("recall >= 0.5 x real", f"{ratio('recall'):.3f}", ratio("recall") >= 0.5),
        ]
    generated = [row for row in sweep_rows if row["truncation"] != "real"]
    generated.sort(key=lambda row: -row["truncation"])  # 1.0 → 0.3
    recalls = [row["recall"] for row in generated]
    fidelity = [row["precision"] for row in generated]
    checks.append(("truncation 1.0 → 0.3: recall falls, precision rises (ends)",
                   f"recall {recalls[0]:.3f} → {recalls[-1]:.3f}, precision "
                   f"{fidelity[0]:.3f} → {fidelity[-1]:.3f}",
                   recalls[-1] < recalls[0] and fidelity[-1] > fidelity[0]))
    return checks


def plot_curve(points, path, dataset):
    import numpy as np  # pylint: disable=import-outside-toplevel
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # pylint: disable=import-outside-toplevel
    figure, axis = plt.subplots(figsize=(6, 4))
    minutes = [p["train_seconds"] / 60 for p in points]
    axis.plot(minutes, [p["fid"] for p in points], "o-", label="EMA generator")
    real = float(np.mean([p["fid_real"] for p in points]))
    axis.axhline(real, linestyle="--", color="tab:red", label=f"real vs real ({real:.3f})")
    axis.axhline(5 * real, linestyle=":", color="tab:gray", label="5 × real vs real")
    axis.set_yscale("log")
    axis.set_xlabel("training time (minutes, 2 CPU cores)")
    axis.set_ylabel("FID (classifier features)")
    axis.set_title(f"{dataset}: FID against training time")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("fashion_mnist", "digits"), default="fashion_mnist")
    parser.add_argument("--workdir", default="/tmp/tfbiggan_variety")
    parser.add_argument("--budget_minutes", type=float, default=10.0,
                        help="Training time at which the goals are checked.")
    parser.add_argument("--curve_minutes", type=float, default=None,
                        help="Train on to this time for the FID curve (default: the budget).")
    parser.add_argument("--eval_minutes", default=None,
                        help="Comma-separated training times of the curve's evaluations.")
    parser.add_argument("--num_samples", type=int, default=None,
                        help="Samples per evaluation (default: the ceiling split's size).")
    parser.add_argument("--set", action="append", default=[],
                        help="Config override FIELD=VALUE (Python literal), repeatable.")
    parser.add_argument("--cache_dir", default=None)
    parser.add_argument("--quick", action="store_true", help="A few steps (CI).")
    args = parser.parse_args()

    # pylint: disable=import-outside-toplevel
    import ast
    from tfbiggan import evaluation, standing_stats
    from tfbiggan.demo import config_for
    from tfbiggan.training import trainer as trainer_lib
    from tfbiggan.training import workdir as wd

    config = config_for(args.dataset)
    for item in args.set:
        key, _, value = item.partition("=")
        target = config
        *parents, leaf = key.split(".")
        for part in parents:
            target = target[part]
        try:
            target[leaf] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            target[leaf] = value
    budget = args.budget_minutes * 60
    curve_end = (args.curve_minutes or args.budget_minutes) * 60
    marks = sorted({float(m) * 60 for m in (args.eval_minutes or "").split(",") if m}
                   | {budget, curve_end})
    if args.quick:
        marks, budget = [0.0], 0.0
        args.num_samples = args.num_samples or 200
    steps = 4 if args.quick else 10 ** 9
    config.checkpoint.every = 10 ** 9  # A checkpoint at each evaluation point only.

    trainer = trainer_lib.Trainer(config, args.workdir)
    suite = None
    trained, step, points, at_budget = 0.0, 0, [], None
    for mark in marks:
        if trained < mark or (args.quick and step < steps):
            start = time.perf_counter()
            trainer.train(steps=steps, progress=False,
                          max_seconds=None if args.quick else mark - trained)
            trained += time.perf_counter() - start
            step = int(trainer.step.numpy())
        generator, step, payload = wd.load_ema_generator(args.workdir)
        standing_stats.collect_truncation_bank(generator, num_batches=4, batch_size=100)
        if suite is None:
            suite = evaluation.suite_for(payload["config"]["data"]["pipeline"],
                                         generator.resolution, args.num_samples,
                                         cache_dir=args.cache_dir)
        sweep = SWEEP if mark == budget else ()
        started = time.perf_counter()
        results = evaluation.evaluate_suite(generator, suite, args.num_samples,
                                            truncations=sweep)
        figures = {k: v for k, v in results.items() if isinstance(v, float)}
        point = {"train_seconds": round(trained, 1), "step": step, **figures}
        points.append(point)
        print(f"\n{trained / 60:.1f} min of training, step {step} "
              f"(evaluation {time.perf_counter() - started:.0f} s):")
        print("\n".join(evaluation.format_table(figures)))
        if mark == budget:
            at_budget = (point, results.get("truncation_curve", []))
            for row in at_budget[1]:
                print("  sweep", {k: (round(v, 4) if isinstance(v, float) else v)
                                  for k, v in row.items()})
    machine = common.machine_line()
    print(f"\nmachine: {machine}")
    if at_budget is not None and at_budget[1]:
        print(f"goals at {args.budget_minutes:g} min of training (step {at_budget[0]['step']}):")
        for goal, value, passed in goals(args.dataset, at_budget[0], at_budget[1]):
            print(f"  [{'pass' if passed else 'FAIL'}] {goal}: {value}")
    final = points[-1]
    print(f"FID at {final['train_seconds'] / 60:.1f} min: {final['fid']:.3f} = "
          f"{final['fid'] / final['fid_real']:.2f} x real-vs-real ({final['fid_real']:.3f})")
    os.makedirs(args.workdir, exist_ok=True)
    with open(os.path.join(args.workdir, "variety.json"), "w", encoding="utf-8") as f:
        json.dump({"machine": machine, "argv": sys.argv[1:], "points": points,
                   "sweep": at_budget[1] if at_budget else []}, f, indent=1)
    plot_curve(points, os.path.join(args.workdir, "fid_against_time.png"), args.dataset)
    print("command: python -m benchmarks.variety " + " ".join(shlex.quote(a)
                                                              for a in sys.argv[1:]))


if __name__ == "__main__":
    main()
