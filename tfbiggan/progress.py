"""Progress of long loops: a redrawn bar on a terminal, plain log lines anywhere else.

On a terminal (the stream's `isatty()`), `Progress` redraws one line with `\\r`: a bar, the
count, the rate, the time left and a few scalars. Written to a file or a pipe (a CI log,
`nohup`, a notebook capturing stderr), that would be a stream of carriage returns, so there it
logs a plain absl INFO line instead, every `log_every` updates and at the end:

    Training: 500/2000 steps (25%), 13.9 steps/s, 1 min 48 s left; d_loss=0.912 g_loss=1.37

No colour codes in either case.

Example:
  >>> bar = Progress(total=2000, unit="step", description="Training")
  >>> for step in range(1, 2001):
  ...     bar.update(step, {"d_loss": d_loss})
  >>> bar.close()
  >>> for images, labels in track(batches, total=10000, unit="image", count=len_of_batch):
  ...     ...
"""

import math
import sys
import time

from absl import logging

from tfbiggan import validation


def _duration(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _plural(unit):
    return unit + ("es" if unit.endswith(("s", "x", "ch", "sh")) else "s")


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # No isatty, or a closed stream.
        return False


class Progress:
    """Reports the progress of a loop (see the module docstring).

    Args:
      total: the count at the end (steps, images, ...).
      start: the count at the beginning (e.g. the step a run resumes from).
      unit: what is counted, singular ("step", "image").
      description: the start of each line, e.g. "Training".
      stream: where the bar is drawn (default: sys.stderr at the first update); the log lines
        go through absl logging.
      enabled: False reports nothing.
      log_every: without a terminal, log every this many `update` calls (and at the end).
      terminal: force the terminal (True) or log (False) behaviour; None asks the stream.

    Example:
      >>> bar = Progress(10000, unit="image", description="Features", log_every=20)
      >>> bar.update(100)
    """

    def __init__(self, total, start=0, *, unit="step", description="", stream=None,
                 enabled=True, log_every=10, terminal=None):
        self.total = validation.positive_int("total", total, allow_zero=True)
        self.start = validation.positive_int("start", start, allow_zero=True)
        self.unit, self.description = unit, description
        self.enabled = validation.boolean("enabled", enabled)
        self.log_every = validation.positive_int("log_every", log_every)
        self._stream, self._terminal = stream, terminal
        self._updates = 0
        self._last = None  # (count, scalars) of the last update not yet logged.
        self._drawn = False
        self.t0 = time.time()

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    @property
    def terminal(self):
        """True when the bar is drawn, False when lines are logged."""
        return _is_terminal(self.stream) if self._terminal is None else self._terminal

    def _figures(self, count):
        elapsed = time.time() - self.t0
        done = count - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (self.total - count) / rate if rate > 0 else math.inf
        return rate, left

    def update(self, count, scalars=None):
        """Reports that `count` (of `total`) is reached; `scalars` are shown beside it."""
        if not self.enabled:
            return
        self._updates += 1
        scalars = dict(scalars or {})
        if self.terminal:
            self._draw(count, scalars)
        elif self._updates % self.log_every == 0 or count >= self.total:
            self._log(count, scalars)
        else:
            self._last = (count, scalars)

    def _draw(self, count, scalars):
        rate, left = self._figures(count)
        width = 24
        filled = min(width, int(width * count / max(self.total, 1)))
        values = " ".join(f"{k}={v:.3f}" for k, v in scalars.items())
        left_text = f"{left:5.0f}s" if math.isfinite(left) else "  ?  "
        prefix = f"{self.description} " if self.description else ""
        self.stream.write(f"\r{prefix}[{'=' * filled}{'.' * (width - filled)}] {count}/"
                          f"{self.total} {rate:.2f} {_plural(self.unit)}/s ETA {left_text} "
                          f"{values}   ")
        self.stream.flush()
        self._drawn = True

    def _log(self, count, scalars):
        rate, left = self._figures(count)
        percent = 100.0 * count / self.total if self.total else 100.0
        values = " ".join(f"{k}={v:.4g}" for k, v in scalars.items())
        prefix = f"{self.description}: " if self.description else ""
        units = _plural(self.unit)
        logging.info("%s%d/%d %s (%.0f%%), %.2f %s/s, %s left%s", prefix, count, self.total,
                     units, percent, rate, units, _duration(left),
                     f"; {values}" if values else "")
        self._last = None

    def close(self):
        """Ends the bar's line (terminal) or logs the last count not logged yet."""
        if not self.enabled:
            return
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
        elif self._last is not None:
            self._log(*self._last)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def track(iterable, total, *, unit="item", description="", count=None, enabled=True,
          log_every=10, stream=None):
    """Yields the items of `iterable` while a `Progress` counts them once each is processed.

    Args:
      iterable: the items (e.g. batches).
      total: the count at the end.
      unit, description, enabled, log_every, stream: as for `Progress`.
      count: function of an item giving how much it adds (default 1), e.g. the batch size.

    Example:
      >>> for images, labels in track(batches, 10000, unit="image",
      ...                              count=lambda batch: len(batch[0])):
      ...     features = feature_fn(images)
    """
    bar = Progress(total, unit=unit, description=description, enabled=enabled,
                   log_every=log_every, stream=stream)
    done = 0
    try:
        for item in iterable:
            yield item
            done += 1 if count is None else count(item)
            bar.update(min(done, total))
    finally:
        bar.close()
