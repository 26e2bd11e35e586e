"""Stopping a run cleanly on SIGTERM or SIGINT: a checkpoint of the last completed iteration,
a log line, and an exit status that says the run can be resumed.

Cloud machines and TPU pods send SIGTERM some seconds before they are taken away. The trainer
finishes the iteration that is running, writes the checkpoint of that step (unless it was just
written) and raises `Preempted`; `python -m tfbiggan.train` then exits with status
128 + the signal number: **143 for SIGTERM, 130 for SIGINT** (Ctrl-C), the values a shell
reports for a program ended by that signal (143 is also the restart code of TensorFlow's own
preemption handling on Google Cloud). Running the same command again resumes from that step.

A signal that arrives while a checkpoint is being written, or a second signal during the
shutdown save, only sets the stop flag: the write finishes, so no checkpoint is cut short.

Under MultiWorkerMirroredStrategy and TPUStrategy the workers must stop at the same step, as
saving is collective. There `tf.distribute.experimental.PreemptionCheckpointHandler` does the
agreeing: the worker that received the signal publishes the step after which every worker
saves, through the coordination service; its `TerminationConfig` is given this module's signal
flag as the termination watcher, the trainer's save as `save_fn` and `Preempted` as `exit_fn`.
On platforms where that handler turns itself off (CPU and TPU VMs on Google Cloud), workers
agree by an all-reduce of their flags at every iteration instead.

Example:
  >>> guard = PreemptionGuard(strategy, save_fn=trainer.save_if_needed, step_fn=step_value)
  >>> for _ in range(start, total):
  ...     stats = guard.run(iteration, iterator)
  ...     guard.at_boundary()            # raises Preempted after saving, if asked to stop
"""

import contextlib
import os
import shutil
import signal
import tempfile
import threading

from absl import logging

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def exit_status(signum):
    """The exit status of a run stopped by signal `signum`: 128 + signum (143 for SIGTERM,
    130 for SIGINT)."""
    return 128 + int(signum)


class Preempted(Exception):
    """Training stopped early on a signal, after writing the checkpoint of `step`.

    Attributes:
      step: the last completed iteration (the step of the checkpoint).
      signum: the signal received by this process (SIGTERM when a peer worker received it).
      checkpoint: the checkpoint prefix of that step on the chief (None on other workers).
      exit_status: the documented exit status of the command line (128 + signum).
    """

    def __init__(self, step, signum, checkpoint=None, by_peer=False):
        self.step, self.signum, self.checkpoint = int(step), int(signum), checkpoint
        self.exit_status = exit_status(signum)
        cause = ("a peer worker received a termination signal" if by_peer else
                 f"{signal.Signals(self.signum).name} received")
        where = f" ({checkpoint})" if checkpoint else ""
        super().__init__(
            f"Stopped at step {self.step}: {cause}; the checkpoint of step {self.step} is "
            f"written{where}. Exit status {self.exit_status}; rerun the same command to resume.")


class StopRequest:
    """Records SIGTERM / SIGINT instead of ending the process.

    The first signal asks the run to stop at the next iteration boundary; later ones are
    logged and otherwise ignored, so that a checkpoint being written is never cut short (a
    process that must end at once can still be sent SIGKILL). Handlers can only be installed
    from the main thread; elsewhere `install` does nothing and returns False.

    Example:
      >>> stop = StopRequest()
      >>> stop.install()
      >>> if stop.requested: ...
    """

    def __init__(self):
        self.signum = None
        self._event = threading.Event()
        self._previous = {}

    @property
    def installed(self):
        return bool(self._previous)

    @property
    def requested(self):
        return self._event.is_set()

    def is_set(self):
        """The termination watcher of a `tf.distribute.experimental.TerminationConfig`."""
        return self._event.is_set()

    def _handle(self, signum, frame):
        del frame
        name = signal.Signals(signum).name
        if self._event.is_set():
            logging.warning("%s received again: already stopping; the checkpoint being written "
                            "is completed first (SIGKILL ends the process at once).", name)
            return
        self.signum = signum
        self._event.set()
        logging.warning("%s received: stopping after the current iteration with a checkpoint "
                        "of its step.", name)

    def install(self):
        """Installs the handlers (again: TensorFlow's coordination service replaces the
        SIGTERM handler when a multi-worker strategy starts). Returns True if installed."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for signum in SIGNALS:
            previous = signal.signal(signum, self._handle)
            if previous is not self._handle:
                self._previous.setdefault(signum, previous)
        return True

    def uninstall(self):
        """Puts back the handlers that were there before `install`."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}

    def clear(self):
        self.signum = None
        self._event.clear()


STOP = StopRequest()
"""The process's stop flag, shared by the command line (installed at start-up) and the
trainer (installed again when training starts)."""


class _HandlerExit(Exception):
    """Raised by the TerminationConfig's exit_fn; turned into `Preempted` by the guard."""


class PreemptionGuard:
    """Runs iterations and stops the run at an iteration boundary when a signal arrived.

    Args:
      strategy: the run's tf.distribute strategy.
      save_fn: writes the checkpoint of the current step unless it is already written;
        returns its path (on the chief) or None. Called on every worker.
      step_fn: returns the current step (an int).
      stop: the `StopRequest` to watch (default: the process's `STOP`).

    Modes: "local" (one process: default, OneDevice, Mirrored and TPU strategies) acts on the
    process's own flag; "handler" (MultiWorkerMirroredStrategy) lets TensorFlow's
    PreemptionCheckpointHandler pick the step; "collective" (multi-worker where that handler is
    off) all-reduces the flags at every boundary.
    """

    def __init__(self, strategy, save_fn, step_fn, stop=None):
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        self.strategy = strategy
        self._save_fn = save_fn
        self._step_fn = step_fn
        self.stop = stop or STOP
        self._handler = None
        self._scratch = None
        self._saved = None
        self.mode = "local"
        multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        tpu = isinstance(strategy, tf.distribute.TPUStrategy)
        if multi_worker or tpu:
            self._handler = self._make_handler(tf)
            if multi_worker:
                self.mode = "handler" if _handler_is_active(self._handler) else "collective"
        self._uninstall = not self.stop.installed  # The command line installs it for good.
        self.stop.install()  # After the strategy, whose start-up replaces SIGTERM's handler.
        self._agree_fn = agreement(strategy) if self.mode == "collective" else None
        logging.info("Preemption: SIGTERM/SIGINT end the run at an iteration boundary with a "
                     "checkpoint (mode %s).", self.mode)

    def _make_handler(self, tf):
        # The handler's own checkpoint (its run counter) lives in a scratch directory: the
        # run's checkpoints, with their damage fallback, stay the trainer's.
        self._scratch = tempfile.mkdtemp(prefix="tfbiggan_preemption_")
        config = tf.distribute.experimental.TerminationConfig(
            termination_watcher_fn=self.stop.is_set, exit_fn=self._exit, save_fn=self._save)
        return tf.distribute.experimental.PreemptionCheckpointHandler(
            self.strategy.cluster_resolver, tf.train.Checkpoint(),
            os.path.join(self._scratch, "run"), termination_config=config)

    def _save(self):
        self._saved = self._save_fn()

    def _exit(self):
        raise _HandlerExit()

    def _preempted(self, by_peer=False):
        signum = self.stop.signum if self.stop.signum is not None else signal.SIGTERM
        error = Preempted(self._step_fn(), signum, self._saved, by_peer=by_peer)
        logging.warning("%s", error)
        return error

    @property
    def stopping(self):
        """True once this process will stop at the next boundary on its own (one-process
        strategies): optional work such as an evaluation can be left out. Multi-worker runs
        report False, since every worker must take the same path."""
        return self.mode == "local" and self.stop.requested

    def run(self, iteration, *args):
        """Runs one iteration (through the PreemptionCheckpointHandler when there is one)."""
        if self._handler is None or self.mode == "collective":
            return iteration(*args)
        try:
            return self._handler.run(iteration, *args)
        except _HandlerExit:
            raise self._preempted(by_peer=not self.stop.requested) from None

    def at_boundary(self):
        """Saves and raises `Preempted` if the run is to stop after this iteration."""
        if self.mode == "handler":
            return  # The handler saves and stops at the start of the next `run`.
        requested = self.stop.requested
        if self.mode == "collective":
            requested = self._agree_fn(requested)
        if requested:
            self._saved = self._save_fn()
            raise self._preempted(by_peer=not self.stop.requested)

    @contextlib.contextmanager
    def scope(self):
        """Wraps the loop: TPUStrategy's preemption scope. Afterwards the stop flag is
        cleared, handlers installed here are removed, and so is the scratch directory."""
        try:
            if self._handler is not None and self.mode == "local":  # TPUStrategy.
                with self._handler.watch_preemption_scope():
                    yield self
            else:
                yield self
            if self._handler is not None:
                # The handler's own shutdown (idempotent): its watcher threads end. Left to
                # the process exit after an error, when peers may be gone.
                self._handler.__del__()
        finally:
            self.stop.clear()
            if self._uninstall:
                self.stop.uninstall()
            if self._scratch:
                shutil.rmtree(self._scratch, ignore_errors=True)


def _handler_is_active(handler):
    """False where the PreemptionCheckpointHandler turns itself off (Google Cloud CPU and
    TPU VMs), where its `run` only calls the function."""
    platform = getattr(handler, "_platform_device", None)
    return getattr(platform, "name", "") not in ("GCE_CPU", "GCE_TPU")


def agreement(strategy):
    """A function flag -> True if the flag is set on any worker (an all-reduce)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    @tf.function
    def agree(flag):
        values = strategy.run(tf.identity, args=(flag,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None)

    return lambda flag: bool(agree(tf.constant(int(flag), tf.int32)).numpy() > 0)
