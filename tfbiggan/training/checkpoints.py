"""Restoring the newest readable checkpoint of a directory, naming every damaged one.

Checkpoints get copied in part, truncated, moved and bit-flipped after they were written. A
checkpoint `ckpt-N` is the files `ckpt-N.index` and `ckpt-N.data-K-of-M`, listed (oldest
first) in the directory's `checkpoint` state file. `restore` tries them newest first: the
listed ones, then any complete set of files the state file does not list. A checkpoint whose
files are missing or empty, whose data is shorter than its index says, or whose tensors fail
their CRC-32C checksum is reported by name with the reason, and the next older one is tried;
with `fallback=False` the first damaged one is an error instead. While checkpoints exist, a
restore never quietly starts from step 0: when none can be read, `CheckpointReadError` lists
them all. A checkpoint that reads but does not fit the objects (other model settings) is not
"damaged": that error is raised as it is, and no older checkpoint is tried.

The trainer then moves the damaged files into `checkpoints/damaged/` (nothing is deleted) and
rewrites the state file without them, so that the rolling deletion of old checkpoints never
removes a good checkpoint while keeping a damaged one.

Example:
  >>> restored = restore(tf.train.Checkpoint(step=step, generator=g), "/runs/a/checkpoints")
  >>> restored.path, [reason for _, reason in restored.damaged]
  ('/runs/a/checkpoints/ckpt-1500', ['ckpt-2000.index is missing'])
"""

import dataclasses
import os
import re

import tensorflow as tf
from absl import logging

DAMAGED_DIR = "damaged"
STATE_FILE = "checkpoint"
_PREFIX = re.compile(
    r"^(?P<name>.+-(?P<step>\d+))\.(?:index|data-(?P<shard>\d+)-of-(?P<count>\d+))$")
# Errors that say nothing about the files (a remote file system's hiccup): raised as they are.
_TRANSIENT = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
              tf.errors.CancelledError, tf.errors.AbortedError,
              tf.errors.ResourceExhaustedError)


class CheckpointReadError(ValueError):
    """No checkpoint could be restored: every one is damaged, or the one asked for is, or the
    latest is and the fallback is off. The message names each checkpoint and its problem."""


@dataclasses.dataclass
class Restored:
    """The outcome of `restore`: the checkpoint prefix restored, its step (from its name) and
    the (prefix, reason) of every newer checkpoint that could not be read."""
    path: str
    step: int
    damaged: list


def step_of(prefix):
    """The step in a checkpoint prefix `.../ckpt-N` (None if the name has none)."""
    match = re.search(r"-(\d+)$", prefix)
    return int(match.group(1)) if match else None


def listed_checkpoints(directory):
    """(prefixes listed by the state file, oldest first, as paths inside `directory`, a
    description of the state file's problem or None). Paths are re-rooted in `directory`, so
    a workdir that was moved or copied still finds its checkpoints."""
    path = os.path.join(directory, STATE_FILE)
    if not tf.io.gfile.exists(path):
        return [], None
    try:
        state = tf.train.get_checkpoint_state(directory)
    except (ValueError, tf.errors.OpError) as error:
        return [], f"the state file {path} cannot be read ({_first_line(error)})"
    if state is None:
        return [], f"the state file {path} cannot be parsed"
    names = list(state.all_model_checkpoint_paths)
    if state.model_checkpoint_path and state.model_checkpoint_path not in names:
        names.append(state.model_checkpoint_path)
    listed = []
    for name in names:
        prefix = os.path.join(directory, os.path.basename(name))
        if prefix not in listed:
            listed.append(prefix)
    return listed, None


def checkpoints_on_disk(directory):
    """Every checkpoint prefix with at least one file in `directory`, by step."""
    prefixes = set()
    if tf.io.gfile.isdir(directory):
        for name in tf.io.gfile.listdir(directory):
            match = _PREFIX.match(name)
            if match:
                prefixes.add(os.path.join(directory, match.group("name")))
    return sorted(prefixes, key=lambda p: step_of(p) or 0)


def candidates(directory):
    """Checkpoint prefixes to try, newest first: the listed ones, then unlisted ones on disk."""
    listed, problem = listed_checkpoints(directory)
    if problem:
        logging.warning("%s; using the checkpoint files found in %s.", problem, directory)
    by_step = lambda prefix: step_of(prefix) or 0  # noqa: E731
    unlisted = [p for p in checkpoints_on_disk(directory) if p not in listed]
    return sorted(listed, key=by_step, reverse=True) + sorted(unlisted, key=by_step,
                                                              reverse=True)


def missing_files(prefix):
    """Why the files of checkpoint `prefix` are incomplete (None if they all exist and are
    non-empty): a missing or empty .index, a missing or empty data shard."""
    name = os.path.basename(prefix)
    index = prefix + ".index"
    data = sorted(tf.io.gfile.glob(prefix + ".data-*"))
    if not tf.io.gfile.exists(index) and not data:
        return f"none of its files exist ({name}.index, {name}.data-*)"
    if not tf.io.gfile.exists(index):
        return f"{name}.index is missing"
    if tf.io.gfile.stat(index).length == 0:
        return f"{name}.index is empty (0 bytes)"
    if not data:
        return f"its data file {name}.data-00000-of-* is missing"
    count = int(_PREFIX.match(os.path.basename(data[0])).group("count"))
    for shard in range(count):
        path = f"{prefix}.data-{shard:05d}-of-{count:05d}"
        if not tf.io.gfile.exists(path):
            return f"{os.path.basename(path)} is missing"
        if tf.io.gfile.stat(path).length == 0:
            return f"{os.path.basename(path)} is empty (0 bytes)"
    return None


def damage_reason(error):
    """A description of `error` if it shows unreadable checkpoint files, else None (errors
    that say the checkpoint does not fit the objects, or a transient file-system error)."""
    if isinstance(error, IndexError):  # py_checkpoint_reader: "Read less bytes than requested".
        return (f"its data is shorter than its index records, the file was truncated "
                f"({_first_line(error)})")
    if isinstance(error, tf.errors.OpError) and not isinstance(error, _TRANSIENT):
        text = _first_line(error)
        if "Checksum does not match" in text or "checksum" in text.lower():
            return f"its data fail their checksum, the bytes changed after writing ({text})"
        return text
    return None


def restore(checkpoint, directory, step=None, fallback=True, expect_partial=False,
            fallback_option="fallback=True"):
    """Restores the newest readable checkpoint of `directory` into `checkpoint`.

    Args:
      checkpoint: a `tf.train.Checkpoint`.
      directory: the checkpoint directory.
      step: restore exactly the checkpoint of this step (None: the newest readable one). A
        damaged checkpoint of that step is an error: another step is never substituted.
      fallback: when the newest checkpoint is damaged, report it and restore the next older
        readable one; False raises `CheckpointReadError` at the first damaged one.
      expect_partial: the checkpoint holds more than `checkpoint` restores (e.g. only the
        EMA generator of a training checkpoint); else every existing object must match.
      fallback_option: how the caller spells the option, for the error message.

    Returns:
      A `Restored`, or None if `directory` holds no checkpoint at all.

    Raises:
      CheckpointReadError: as described above.

    Example:
      >>> restored = restore(tf.train.Checkpoint(step=step, generator=g), "/runs/a/checkpoints")
    """
    prefixes = candidates(directory)
    if step is not None:
        chosen = [p for p in prefixes if step_of(p) == step]
        if not chosen:
            available = sorted({step_of(p) for p in prefixes if step_of(p) is not None})
            raise CheckpointReadError(f"no checkpoint for step {step} in {directory!r}; "
                                      f"available steps: {available}.")
        prefixes = chosen
    if not prefixes:
        return None
    damaged = []
    for prefix in prefixes:
        reason = missing_files(prefix)
        if reason is None:
            try:
                status = checkpoint.restore(prefix)
                if expect_partial:
                    status.expect_partial()
                status.assert_existing_objects_matched()
            except (IndexError, tf.errors.OpError) as error:
                reason = damage_reason(error)
                if reason is None:
                    raise
        if reason is None:
            if damaged:
                logging.warning("Restored %s instead of the newer checkpoint(s) that cannot "
                                "be read: %s.", prefix,
                                ", ".join(os.path.basename(p) for p, _ in damaged))
            return Restored(prefix, step_of(prefix), damaged)
        damaged.append((prefix, reason))
        if step is not None:
            raise CheckpointReadError(f"The checkpoint {prefix} (step {step}) cannot be read: "
                                      f"{reason}.")
        if not fallback:
            raise CheckpointReadError(
                f"The latest checkpoint {prefix} cannot be read: {reason}. Not falling back "
                f"to an earlier checkpoint because the fallback is off; set {fallback_option} "
                f"to resume from the newest readable one instead.")
        logging.warning("Checkpoint %s cannot be read: %s. Trying the next older one.",
                        prefix, reason)
    listing = "; ".join(f"{os.path.basename(p)}: {r}" for p, r in damaged)
    raise CheckpointReadError(
        f"No checkpoint in {directory} can be read ({listing}). Not starting again from step "
        f"0 while checkpoints exist: put back an intact copy, or move the directory away to "
        f"start afresh.")


def set_aside(directory, damaged):
    """Moves the files of the damaged checkpoints into `directory/damaged/` and rewrites the
    state file without them. Returns the paths moved.

    Example:
      >>> set_aside("/runs/a/checkpoints", restored.damaged)
    """
    if not damaged:
        return []
    target = os.path.join(directory, DAMAGED_DIR)
    tf.io.gfile.makedirs(target)
    moved = []
    for prefix, _ in damaged:
        for path in tf.io.gfile.glob(prefix + ".*"):
            destination = os.path.join(target, os.path.basename(path))
            tf.io.gfile.rename(path, destination, overwrite=True)
            moved.append(destination)
    bad = {prefix for prefix, _ in damaged}
    listed, _ = listed_checkpoints(directory)
    keep = [p for p in listed if p not in bad]
    if keep:
        _write_state(directory, keep)
    elif tf.io.gfile.exists(os.path.join(directory, STATE_FILE)):
        tf.io.gfile.rename(os.path.join(directory, STATE_FILE),
                           os.path.join(target, STATE_FILE), overwrite=True)
    logging.warning("Moved the damaged checkpoint file(s) %s to %s.",
                    sorted(os.path.basename(p) for p in moved), target)
    return moved


def repair_state_file(directory):
    """If the state file cannot be read, moves it to `damaged/` and writes a new one listing
    the checkpoint files on disk (tf.train.CheckpointManager cannot start on an unreadable
    one). Returns True if it did."""
    _, problem = listed_checkpoints(directory)
    if problem is None:
        return False
    target = os.path.join(directory, DAMAGED_DIR)
    tf.io.gfile.makedirs(target)
    tf.io.gfile.rename(os.path.join(directory, STATE_FILE), os.path.join(target, STATE_FILE),
                       overwrite=True)
    complete = [p for p in checkpoints_on_disk(directory) if missing_files(p) is None]
    if complete:
        _write_state(directory, complete)
    logging.warning("%s; moved it to %s and listed the checkpoint files found instead: %s.",
                    problem, target, [os.path.basename(p) for p in complete])
    return True


def _write_state(directory, prefixes):
    """Writes the state file (atomically) listing `prefixes`, oldest first, by relative name
    as tf.train.CheckpointManager does, with the timestamps it keeps (the old ones where the
    state file has them, else the .index file's time): a manager reading it then manages (and
    in time deletes) these checkpoints as its own."""
    old = {}
    preserved = None
    try:
        state = tf.train.get_checkpoint_state(directory)
    except (ValueError, tf.errors.OpError):
        state = None
    if state is not None:
        old = {os.path.basename(p): t for p, t in zip(
            state.all_model_checkpoint_paths, state.all_model_checkpoint_timestamps)}
        preserved = state.last_preserved_timestamp or None
    names = [os.path.basename(p) for p in prefixes]
    stamps = [old.get(name) or tf.io.gfile.stat(p + ".index").mtime_nsec / 1e9
              for name, p in zip(names, prefixes)]
    preserved = min(([preserved] if preserved else []) + [min(stamps) - 1.0])
    lines = [f'model_checkpoint_path: "{names[-1]}"']
    lines += [f'all_model_checkpoint_paths: "{name}"' for name in names]
    lines += [f"all_model_checkpoint_timestamps: {stamp!r}" for stamp in stamps]
    lines.append(f"last_preserved_timestamp: {preserved!r}")
    path = os.path.join(directory, STATE_FILE)
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def _first_line(error):
    text = getattr(error, "message", None) or str(error)
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", text).strip()
    text = re.sub(r"\s*\[Op:\w+\]$", "", text.splitlines()[0] if text else "")
    return text or type(error).__name__
