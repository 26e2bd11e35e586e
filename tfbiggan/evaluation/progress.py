"""Progress of an extraction through the library's progress display (`tfbiggan.progress`): a
bar on a terminal, a plain log line now and then elsewhere."""

from tfbiggan import progress as progress_lib


def with_progress(batches, total, what, progress):
    """Yields the (images, labels) batches, counting their images when `progress` is on."""
    if not progress:
        yield from batches
        return
    yield from progress_lib.track(batches, total, unit=what.split()[-1].rstrip("s") or "image",
                                  description=what, count=lambda batch: len(batch[0]))
