"""`tfbiggan.progress`: a redrawn bar on a terminal, plain log lines per N updates elsewhere."""

import io
import logging
import sys

import pytest

from tfbiggan import progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _messages(caplog):
    return [record.getMessage() for record in caplog.records if record.name == "absl"]


def test_without_a_terminal_it_logs_a_line_every_n_updates_and_draws_nothing(caplog):
    caplog.set_level(logging.INFO, logger="absl")
    stream = io.StringIO()  # A pipe or a log file: isatty() is False.
    bar = progress.Progress(10, unit="batch", description="Features", stream=stream,
                            log_every=4)
    assert not bar.terminal
    for count in range(1, 10):
        bar.update(count, {"loss": 0.5})
    bar.close()
    assert stream.getvalue() == ""
    lines = _messages(caplog)
    assert [line.split(" batches")[0] for line in lines] == [
        "Features: 4/10", "Features: 8/10", "Features: 9/10"]  # every 4th, then the last
    assert "(40%)" in lines[0] and "loss=0.5" in lines[0] and "left" in lines[0]
    assert all("\r" not in line and "\x1b" not in line for line in lines)


def test_the_end_is_logged_once(caplog):
    caplog.set_level(logging.INFO, logger="absl")
    bar = progress.Progress(3, start=1, unit="step", stream=io.StringIO(), log_every=10)
    bar.update(2)
    bar.update(3)  # The total: logged at once, and close() adds nothing.
    bar.close()
    assert [line.split(" steps")[0] for line in _messages(caplog)] == ["3/3"]


def test_on_a_terminal_it_redraws_one_line_and_logs_nothing(caplog):
    caplog.set_level(logging.INFO, logger="absl")
    stream = _Terminal()
    with progress.Progress(4, unit="step", description="Training", stream=stream) as bar:
        assert bar.terminal
        for count in range(1, 5):
            bar.update(count, {"d_loss": 1.25})
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and text.count("\n") == 1
    assert "Training [" in text and "4/4" in text and "d_loss=1.250" in text
    assert "[========================]" in text and "\x1b" not in text
    assert _messages(caplog) == []


def test_disabled_reports_nothing(caplog):
    caplog.set_level(logging.INFO, logger="absl")
    stream = _Terminal()
    bar = progress.Progress(2, stream=stream, enabled=False)
    bar.update(1)
    bar.update(2)
    bar.close()
    assert stream.getvalue() == "" and _messages(caplog) == []


def test_track_counts_items_by_their_size(caplog):
    caplog.set_level(logging.INFO, logger="absl")
    batches = [list(range(3)), list(range(3)), list(range(2))]
    seen = list(progress.track(iter(batches), 8, unit="image", count=len, log_every=2,
                               stream=io.StringIO()))
    assert seen == batches
    assert [line.split(" images")[0] for line in _messages(caplog)] == ["6/8", "8/8"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="`log_every` must be a positive integer, got 0"):
        progress.Progress(5, log_every=0)
    with pytest.raises(ValueError, match="`total` must be a non-negative integer"):
        progress.Progress(-1)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
