"""Reading a DeepMind TF1 Hub module: its directory (or `.tar.gz`), variables and graph tensors.

A TF1 Hub module is a directory with `tfhub_module.pb`, `saved_model.pb` (one graph per tag
set; the default graph has the empty tag set) and `variables/variables.{index,data-*}`. The
variables are read by name with `tf.train.load_checkpoint`; graph tensors (BigGAN-deep's
truncation-indexed batch-norm statistics) by loading the module with `hub.load`, which still
opens TF1 modules in TensorFlow 2 (tags []), and pruning its graph to those tensors.

Example:
  >>> with module_directory("biggan-deep-128_1.tar.gz") as path:
  ...     variables = read_variables(path)
"""

import contextlib
import os
import shutil
import tarfile
import tempfile
import zlib

import numpy as np
import tensorflow as tf

MODULE_FILE = "tfhub_module.pb"
SAVED_MODEL_FILE = "saved_model.pb"
VARIABLES_PREFIX = os.path.join("variables", "variables")
APPLY_SCOPE = "module_apply_default/"


def is_module_directory(path):
    """True for a directory holding a TF1 Hub module."""
    return os.path.isfile(os.path.join(path, MODULE_FILE)) and os.path.isfile(
        os.path.join(path, SAVED_MODEL_FILE))


def is_archive(path):
    """True for a (gzipped) tar file."""
    try:
        return os.path.isfile(path) and tarfile.is_tarfile(path)
    except (OSError, EOFError, zlib.error):
        return False


def _safe_extract(archive, destination, path):
    members = archive.getmembers()
    if hasattr(tarfile, "data_filter"):  # Python ≥ 3.10.12 / 3.11.4: refuses unsafe members.
        archive.extractall(destination, members=members, filter="data")
        return
    root = os.path.realpath(destination)
    for member in members:
        target = os.path.realpath(os.path.join(destination, member.name))
        if not (member.isfile() or member.isdir()) or not target.startswith(root + os.sep):
            raise ValueError(f"{path}: refusing the archive member {member.name!r} (only plain "
                             f"files and folders inside the archive are extracted).")
    archive.extractall(destination, members=members)


def _find_module(root):
    for directory, _, files in sorted(os.walk(root)):
        if MODULE_FILE in files and SAVED_MODEL_FILE in files:
            return directory
    return None


@contextlib.contextmanager
def module_directory(path):
    """Yields the directory of the module at `path`: the directory itself, or the one inside a
    `.tar.gz` (extracted into a temporary directory that is removed afterwards).

    Raises:
      ValueError: `path` is neither a module directory nor an archive holding one, or the
        archive is damaged or truncated.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        if not is_module_directory(path):
            raise ValueError(f"{path} is not a TF1 Hub module: it must hold {MODULE_FILE} and "
                             f"{SAVED_MODEL_FILE}; it holds {sorted(os.listdir(path))[:20]}.")
        yield path
        return
    scratch = tempfile.mkdtemp(prefix="tfbiggan_module_")
    try:
        try:
            with tarfile.open(path) as archive:
                _safe_extract(archive, scratch, path)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
            raise ValueError(f"cannot extract {path}: {type(error).__name__}: {error}. The "
                             f"archive is damaged or truncated (an incomplete "
                             f"download?).") from error
        found = _find_module(scratch)
        if found is None:
            raise ValueError(f"{path} is an archive but holds no TF1 Hub module (no folder "
                             f"with {MODULE_FILE} and {SAVED_MODEL_FILE}).")
        yield found
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def read_variables(module_dir):
    """{name: array} of every variable in the module's checkpoint."""
    prefix = os.path.join(module_dir, VARIABLES_PREFIX)
    try:
        reader = tf.train.load_checkpoint(prefix)
        names = reader.get_variable_to_shape_map()
        return {name: np.asarray(reader.get_tensor(name)) for name in names
                if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}
    except (tf.errors.OpError, ValueError) as error:
        raise ValueError(f"cannot read the variables of the module {module_dir} "
                         f"({prefix}.index / .data-*): {type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''}. The module is "
                         f"incomplete or damaged.") from error


def default_meta_graph(module_dir):
    """The MetaGraphDef of the module's default graph (the one with the empty tag set)."""
    from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=import-outside-toplevel
    proto = saved_model_pb2.SavedModel()
    path = os.path.join(module_dir, SAVED_MODEL_FILE)
    try:
        with open(path, "rb") as f:
            proto.ParseFromString(f.read())
    except Exception as error:  # protobuf's DecodeError
        raise ValueError(f"cannot parse {path}: {type(error).__name__}: {error}. The module is "
                         f"damaged or truncated.") from error
    graphs = [graph for graph in proto.meta_graphs if not list(graph.meta_info_def.tags)]
    if not graphs:
        tags = [list(graph.meta_info_def.tags) for graph in proto.meta_graphs]
        raise ValueError(f"{path} has no graph with the empty tag set (tag sets: {tags}).")
    return graphs[0]


def node_names(meta_graph):
    return {node.name for node in meta_graph.graph_def.node}


_VARIABLE_OPS = {"VariableV2", "Variable", "VarHandleOp"}
_INPUT_OPS = {"Placeholder", "PlaceholderWithDefault"}


def read_graph_tensors(module_dir, meta_graph, names):
    """The values of the graph tensors `names` (node names, output 0) of the default graph.

    Only the part of the graph they depend on is imported and run (in a TF1 session, with the
    module's variables restored when that part reads any). They must not depend on the
    module's inputs.
    """
    tf1 = tf.compat.v1
    try:
        sub_graph = tf1.graph_util.extract_sub_graph(meta_graph.graph_def, list(names))
    except (AssertionError, ValueError) as error:
        raise ValueError(f"the module graph lacks a tensor among {names[:4]}…: "
                         f"{error}") from error
    ops = {node.op for node in sub_graph.node}
    if ops & _INPUT_OPS:
        inputs = sorted(node.name for node in sub_graph.node if node.op in _INPUT_OPS)
        raise ValueError(f"the graph tensors {names[:4]}… of the module {module_dir} depend on "
                         f"its inputs {inputs}; they must be fixed statistics.")
    graph = tf.Graph()
    with graph.as_default():
        try:
            if ops & _VARIABLE_OPS:  # Statistics computed from variables: restore them.
                saver = tf1.train.import_meta_graph(meta_graph, clear_devices=True)
            else:
                saver = None
                tf.graph_util.import_graph_def(sub_graph, name="")
            fetches = [graph.get_tensor_by_name(f"{name}:0") for name in names]
            with tf1.Session(graph=graph) as session:
                if saver is not None:
                    saver.restore(session, os.path.join(module_dir, VARIABLES_PREFIX))
                values = session.run(fetches)
        except (KeyError, ValueError, tf.errors.OpError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ValueError(f"cannot evaluate the graph tensors {names[:4]}… of the module "
                             f"{module_dir}: {type(error).__name__}: {message}") from error
    return [np.asarray(value) for value in values]


def load(module_dir):
    """The module loaded by `hub.load` (TF1 format: tags [])."""
    import tensorflow_hub as hub  # pylint: disable=import-outside-toplevel
    return hub.load(module_dir)
