"""Progress of an extraction: a bar on a terminal, a plain log line now and then elsewhere."""

import sys

from absl import logging


def with_progress(batches, total, what, progress, every=10):
    """Yields the (images, labels) batches, reporting how many images are done.

    With `progress`, a Keras progress bar on a terminal (stdout is a TTY), else an INFO log
    line every `every` batches and at the end, so logs written to files hold no bar
    redraws or colour codes.
    """
    if not progress:
        yield from batches
        return
    bar = None
    if sys.stdout.isatty():
        import keras  # pylint: disable=import-outside-toplevel
        bar = keras.utils.Progbar(total, unit_name=what.split()[-1])
    done = 0
    for index, (images, labels) in enumerate(batches):
        yield images, labels
        done += len(images)
        if bar is not None:
            bar.update(min(done, total))
        elif (index + 1) % every == 0 or done >= total:
            logging.info("%s: %d / %d", what, min(done, total), total)
