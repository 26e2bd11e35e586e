"""Progressive growing schedule (Karras et al. 2018, arXiv 1710.10196, §2 and App. A.1).

Training shows D a fixed number of real images per phase. Phases, in order: stabilise stage 0
(4×4); then for every further stage s a fade-in (α rises linearly from 0 to 1 while stage s
blends with the upsampled stage s−1) followed by a stabilisation (α = 1). The last
stabilisation lasts until the end of training.

The phase, stage and α are a pure function of the iteration counter, so a resumed run
restores them exactly (the `stage` / `alpha` weights are also in the checkpoints). The trainer
assigns them inside its compiled iteration from the step variable (`ProgressiveSchedule.assign`),
so growing never retraces.

An optional batch size per stage (`progressive.batch_sizes`, smaller at high resolution as in
the paper) changes input shapes: the trainer then re-creates the data iterator and retraces the
iteration at the phase boundaries where the batch changes, and only there. Consecutive phases
with one batch size form a *segment*; segment k's data are seeded with `seed + k` and resuming
skips the iterations already done in the segment, so resumption replays the data order.
"""

import dataclasses
import math

import ml_collections
import tensorflow as tf


def default_config():
    """The `progressive` config section (off by default)."""
    c = ml_collections.ConfigDict()
    c.enabled = False              # Grow the `stage`/`alpha` of a ProGAN preset during training.
    c.stabilize_images = 800_000   # Real images shown to D per stabilisation phase (paper: 800k).
    c.fade_images = 800_000        # Real images shown to D per fade-in phase (paper: 800k).
    c.batch_sizes = ()             # Global batch per stage (4×4 first); () = training.batch_size.
    return c


@dataclasses.dataclass(frozen=True)
class Phase:
    """One phase: `stage` (0 = 4×4), whether it fades in, its first step, length, batch."""
    stage: int
    fading: bool
    start: int
    steps: int  # math.inf for the last phase.
    batch_size: int


def build_phases(num_stages, stabilize_images, fade_images, batch_sizes, images_per_example):
    """The phases of a run.

    Args:
      num_stages: stages of the models (log2(resolution) − 1).
      stabilize_images, fade_images: real images shown per stabilisation / fade-in phase.
      batch_sizes: global batch of each stage, [num_stages].
      images_per_example: real images D sees per iteration per unit of batch
        (num_d_steps × accumulation_steps).

    Returns:
      A list of `Phase`; a phase lasts ceil(images / (batch · images_per_example)) steps.
    """
    if len(batch_sizes) != num_stages:
        raise ValueError(f"`batch_sizes` must hold one batch per stage ({num_stages}), got "
                         f"{tuple(batch_sizes)!r}.")
    phases, start = [], 0
    for stage in range(num_stages):
        kinds = [False] if stage == 0 else [True, False]
        for fading in kinds:
            batch = int(batch_sizes[stage])
            last = stage == num_stages - 1 and not fading
            images = fade_images if fading else stabilize_images
            steps = math.inf if last else max(1, math.ceil(images / (batch * images_per_example)))
            phases.append(Phase(stage, fading, start, steps, batch))
            start = start + steps if not last else start
    return phases


def phase_index(phases, step):
    """Index of the phase holding iteration `step` (>= 0)."""
    index = 0
    for i, phase in enumerate(phases):
        if step >= phase.start:
            index = i
    return index


def state_at(phases, step):
    """(phase index, stage, α) at iteration `step`: α = (step − start) / steps in a fade-in,
    1 otherwise."""
    index = phase_index(phases, step)
    phase = phases[index]
    alpha = (step - phase.start) / phase.steps if phase.fading else 1.0
    return index, phase.stage, float(alpha)


def segment_of(phases, step):
    """(first step, index) of the run of consecutive same-batch phases holding `step`."""
    index = phase_index(phases, step)
    segment, first = 0, 0
    for i in range(1, index + 1):
        if phases[i].batch_size != phases[i - 1].batch_size:
            segment, first = segment + 1, phases[i].start
    return first, segment


class ProgressiveSchedule:
    """Assigns the schedule's stage and α to the growing models.

    Args:
      phases: from `build_phases`.
      models: models with `stage` (int32) and `alpha` (float32) weights, e.g. G, D and the EMA
        generator (then the EMA's average of α is a no-op and its integer `stage` is copied).

    Example:
      >>> schedule = ProgressiveSchedule(build_phases(4, 1000, 1000, [16] * 4, 1), [g, d])
      >>> schedule.assign(tf.constant(70, tf.int64))   # inside a tf.function is fine
    """

    def __init__(self, phases, models):
        self.phases = phases
        self.models = list(models)
        finite = [p for p in phases if p.steps != math.inf]
        self._starts = tf.constant([p.start for p in phases], tf.int64)
        self._lengths = tf.constant([p.steps for p in finite] + [1], tf.float64)
        self._stages = tf.constant([p.stage for p in phases], tf.int32)
        self._fading = tf.constant([p.fading for p in phases], tf.bool)

    def state(self, step):
        """In-graph stage and α at `step`.

        The phase tables are read with `tf.gather`, whose index may be a run-time value under
        XLA (a strided slice needs a compile-time constant index, which would make `step` a
        constant of the compiled program: one XLA compilation per step).

        Args:
          step: the iteration counter, an integer scalar tensor.

        Returns:
          (stage int32, α float32) scalars.
        """
        step = tf.cast(step, tf.int64)
        index = tf.reduce_sum(tf.cast(self._starts <= step, tf.int32)) - 1
        start, length = tf.gather(self._starts, index), tf.gather(self._lengths, index)
        progress = tf.cast(step - start, tf.float64) / length
        alpha = tf.where(tf.gather(self._fading, index), progress,
                         tf.constant(1.0, tf.float64))
        return tf.gather(self._stages, index), tf.cast(alpha, tf.float32)

    def assign(self, step):
        stage, alpha = self.state(step)
        for model in self.models:
            model.stage.assign(stage)
            model.alpha.assign(alpha)

    def batch_size(self, step):
        return self.phases[phase_index(self.phases, step)].batch_size

    def segment_of(self, step):
        return segment_of(self.phases, step)


def from_config(config, models):
    """The schedule of an experiment config, or None when `progressive.enabled` is off."""
    section = config.get("progressive")
    if section is None or not section.enabled:
        return None
    cfg = config.training
    num_stages = models[0].num_stages
    batch_sizes = tuple(section.batch_sizes) or (cfg.batch_size,) * num_stages
    phases = build_phases(num_stages, section.stabilize_images, section.fade_images,
                          batch_sizes, cfg.num_d_steps * cfg.accumulation_steps)
    return ProgressiveSchedule(phases, models)
