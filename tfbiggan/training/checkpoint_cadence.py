"""When the trainer writes a checkpoint: every `checkpoint.every` steps, and also once
`checkpoint.every_secs` seconds have passed since the last one (0 = no time-based ones).

Time-based checkpoints bound the work a hard kill (power loss, out-of-memory kill, SIGKILL)
can lose when iterations are slow. Saving is collective under MultiWorkerMirroredStrategy, so
there the workers' clocks are reconciled: a checkpoint is due when it is due on any worker
(an all-reduce of one flag per iteration, only when `every_secs` is set).

Example:
  >>> cadence = CheckpointCadence(every_steps=2000, every_secs=1800)
  >>> if cadence.due(step):
  ...     trainer.save()
  ...     cadence.saved()
"""

import time

import tensorflow as tf

from tfbiggan.training import preemption


class CheckpointCadence:
    """Decides whether the checkpoint of a step is due.

    Args:
      every_steps: a checkpoint at every multiple of this step (positive).
      every_secs: also one when this many seconds passed since the last (0: never).
      strategy: the run's strategy; multi-worker strategies agree on time-based ones.
      clock: seconds, monotonic (a parameter for tests).
    """

    def __init__(self, every_steps, every_secs=0.0, strategy=None, clock=time.monotonic):
        self.every_steps = int(every_steps)
        self.every_secs = float(every_secs or 0.0)
        self._clock = clock
        self._last = clock()
        self._agree = None
        if self.every_secs > 0 and isinstance(strategy,
                                              tf.distribute.MultiWorkerMirroredStrategy):
            self._agree = preemption.agreement(strategy)

    def due(self, step):
        """True if the checkpoint of `step` is to be written now (every worker agrees)."""
        if step % self.every_steps == 0:
            return True
        if self.every_secs <= 0:
            return False
        late = self._clock() - self._last >= self.every_secs
        return self._agree(late) if self._agree is not None else late

    def saved(self):
        """Restarts the clock (after any checkpoint write)."""
        self._last = self._clock()
