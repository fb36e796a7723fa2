"""ONNX import and export without any other framework: round trips, input scaling, and every
kind of bad or hostile file, each made here with onnx.helper."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from cnnviz.nn import ModelFileError, get_preset, load_checkpoint, save_model
from cnnviz.nn.model_files import read_model_file, scaling_was_given
from cnnviz.nn.scaling import MNIST_SCALING, UNIT_SCALING, InputScaling, parse_scaling

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnviz.nn.onnx_export import export_onnx, onnx_model  # noqa: E402
from cnnviz.nn.onnx_io import SCALING_KEY, import_onnx  # noqa: E402


def _raw_tensor(name: str, dims: list[int], raw: bytes):
    """A float tensor whose declared shape need not match its bytes (helper checks that)."""
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    tensor.raw_data = raw
    return tensor


def _reference(seed: int = 0):
    return get_preset("reference").create(seed)


def _inputs(n: int = 6, shape=(1, 28, 28)) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, *shape)).astype(np.float32)


def _graph_file(path, nodes, initializers, input_dims=(1, 1, 28, 28), output="y", opset=13):
    """Write a graph of `nodes` from input 'x' to `output` as an ONNX file; returns its path."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_dims))],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path.write_bytes(model.SerializeToString())
    return path


def _small_net(path, extra_nodes=(), extra_inits=(), output="y", **kwargs):
    """conv 2@3×3 → relu → flatten → dense 3, then `extra_nodes`."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(2).astype(np.float32), "b"),
             numpy_helper.from_array(rng.standard_normal((3, 8)).astype(np.float32), "d"),
             *extra_inits]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "d"], ["y" if not extra_nodes else "g"],
                              name="dense", transB=1), *extra_nodes]
    return _graph_file(path, nodes, inits, (1, 1, 4, 4), output, **kwargs)


# --- round trips ---------------------------------------------------------------------------
def test_export_passes_the_checker_and_imports_to_the_same_network(tmp_path):
    model = _reference()
    path = export_onnx(model, tmp_path / "ref.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    checkpoint = import_onnx(path)
    assert checkpoint.warnings == ()
    x = _inputs()
    np.testing.assert_array_equal(checkpoint.model.forward(x), model.forward(x))
    assert [layer.kind for layer in checkpoint.model.layers.values()] == \
        [layer.kind for layer in model.layers.values()]


def test_export_runs_in_onnxruntime_to_the_same_logits(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = _reference(3)
    path = export_onnx(model, tmp_path / "ref.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = _inputs(17)
    (logits,) = session.run(None, {"input": x})
    np.testing.assert_allclose(logits, model.forward(x), atol=1e-5, rtol=1e-5)


def test_scaling_travels_in_the_onnx_metadata_and_in_npz_files(tmp_path):
    model = _reference()
    model.input_scaling = InputScaling(0.5, 0.25)
    path = export_onnx(model, tmp_path / "m.onnx")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert parse_scaling(props[SCALING_KEY]) == InputScaling(0.5, 0.25)
    checkpoint = import_onnx(path)
    assert checkpoint.model.input_scaling == InputScaling(0.5, 0.25)
    assert scaling_was_given(path, checkpoint)
    saved = save_model(tmp_path / "m.npz", checkpoint.model, info=checkpoint.info)
    assert load_checkpoint(saved).model.input_scaling == InputScaling(0.5, 0.25)
    assert read_model_file(saved, UNIT_SCALING).model.input_scaling == UNIT_SCALING


def test_without_metadata_the_default_is_mnist_and_the_caller_can_tell(tmp_path):
    proto = onnx_model(_reference(), MNIST_SCALING)
    del proto.metadata_props[:]
    path = tmp_path / "plain.onnx"
    path.write_bytes(proto.SerializeToString())
    checkpoint = import_onnx(path)
    assert checkpoint.model.input_scaling == MNIST_SCALING
    assert not scaling_was_given(path, checkpoint)
    given = import_onnx(path, UNIT_SCALING)
    assert given.model.input_scaling == UNIT_SCALING and scaling_was_given(path, given)


def test_default_scaling_leaves_npz_files_as_they_were(tmp_path):
    saved = save_model(tmp_path / "m.npz", _reference(), info={"note": "x"})
    checkpoint = load_checkpoint(saved)
    assert checkpoint.info == {"note": "x"} and checkpoint.model.input_scaling == MNIST_SCALING


@pytest.mark.parametrize("value", [[0.1, 0.0], [float("nan"), 1.0], "mnist", [1, 2, 3], [True, 1]])
def test_a_malformed_scaling_in_a_model_file_is_dropped_with_a_note(tmp_path, value):
    saved = save_model(tmp_path / "m.npz", _reference(), info={"input_scaling": value})
    checkpoint = load_checkpoint(saved)
    assert checkpoint.model.input_scaling == MNIST_SCALING
    assert any("input_scaling" in w for w in checkpoint.warnings)


def test_matmul_add_reshape_and_a_final_softmax_are_read(tmp_path):
    rng = np.random.default_rng(2)
    w, b = rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal(3).astype(
        np.float32)
    conv_w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "cw"], ["c"], name="c1", pads=[1, 1, 1, 1],
                              strides=[2, 2]),
             helper.make_node("Tanh", ["c"], ["t"], name="t"),
             helper.make_node("Constant", [], ["shape"], name="k", value_ints=[-1, 8]),
             helper.make_node("Reshape", ["t", "shape"], ["f"], name="r"),
             helper.make_node("MatMul", ["f", "w"], ["m"], name="mm"),
             helper.make_node("Add", ["m", "b"], ["a"], name="add"),
             helper.make_node("Softmax", ["a"], ["y"], name="sm", axis=-1)]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w, "w"), (b, "b"), (conv_w, "cw"))]
    path = _graph_file(tmp_path / "m.onnx", nodes, inits, ("N", 1, 4, 4))
    checkpoint = import_onnx(path)
    model = checkpoint.model
    assert [layer.kind for layer in model.layers.values()] == \
        ["Conv2D", "Tanh", "Flatten", "Dense"]
    assert any("Softmax" in note for note in checkpoint.warnings)
    x = _inputs(3, (1, 4, 4))
    padded = np.pad(x[:, 0], ((0, 0), (1, 1), (1, 1)))
    conv = np.stack([[[(padded[n, 2 * i:2 * i + 3, 2 * j:2 * j + 3] * conv_w[o, 0]).sum()
                       for j in range(2)] for i in range(2)] for n in range(3)
                     for o in range(2)]).reshape(3, 8)
    np.testing.assert_allclose(model.forward(x), np.tanh(conv) @ w + b, rtol=1e-5, atol=1e-5)


# --- refusals: one clear error each ----------------------------------------------------------
def test_truncated_and_random_files_are_refused(tmp_path):
    good = export_onnx(_reference(), tmp_path / "good.onnx").read_bytes()
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(good[:len(good) // 2])
    noise = tmp_path / "noise.onnx"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    for path in (truncated, noise, empty):
        with pytest.raises(ModelFileError, match=path.name):
            import_onnx(path)


def test_a_huge_declared_tensor_is_refused_before_it_is_read(tmp_path):
    huge = _raw_tensor("d", [100_000, 100_000], b"\0" * 16)
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "d"], ["y"], name="dense", transB=1)]
    path = _graph_file(tmp_path / "huge.onnx", nodes, [huge])
    with pytest.raises(ModelFileError, match=r"tensor 'd' declares shape \[100000, 100000\]"):
        import_onnx(path)


def test_a_tensor_with_fewer_bytes_than_its_shape_is_refused(tmp_path):
    short = _raw_tensor("d", [3, 8], b"\0" * 16)
    path = _small_net(tmp_path / "short.onnx")
    proto = onnx.load(str(path))
    proto.graph.initializer[2].CopyFrom(short)
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(ModelFileError, match="holds 16 bytes"):
        import_onnx(path)


def _external(path, location: str) -> None:
    proto = onnx.load(str(path))
    tensor = proto.graph.initializer[2]
    size = len(tensor.raw_data)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(size))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    path.write_bytes(proto.SerializeToString())


@pytest.mark.parametrize("where", ["../outside.bin", "ABSOLUTE", "sub/../../outside.bin"])
def test_external_data_outside_the_models_folder_is_refused(tmp_path, where):
    folder = tmp_path / "models"
    folder.mkdir()
    secret = tmp_path / "outside.bin"
    secret.write_bytes(b"\1" * 96)
    path = _small_net(folder / "ext.onnx")
    _external(path, str(secret) if where == "ABSOLUTE" else where)
    with pytest.raises(ModelFileError, match="outside the model's folder"):
        import_onnx(path)


def test_external_data_inside_the_folder_is_read(tmp_path):
    path = _small_net(tmp_path / "ext.onnx")
    weights = numpy_helper.to_array(onnx.load(str(path)).graph.initializer[2])
    (tmp_path / "weights.bin").write_bytes(weights.tobytes())
    _external(path, "weights.bin")
    model = import_onnx(path).model
    np.testing.assert_array_equal(model.layers["dense1"].params["W"], weights)


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(b"\1" * 96)
    (folder / "link.bin").symlink_to(tmp_path / "outside.bin")
    path = _small_net(folder / "ext.onnx")
    _external(path, "link.bin")
    with pytest.raises(ModelFileError, match="outside the model's folder"):
        import_onnx(path)


def test_an_unsupported_operator_is_named_with_its_node(tmp_path):
    path = _small_net(tmp_path / "bn.onnx", [helper.make_node("Elu", ["g"], ["y"], name="odd")])
    with pytest.raises(ModelFileError, match=r"node 'odd' \(Elu\): unsupported operator"):
        import_onnx(path)


def test_a_branch_is_refused_naming_the_nodes(tmp_path):
    nodes = [helper.make_node("Relu", ["g"], ["r2"], name="side"),
             helper.make_node("Add", ["g", "r2"], ["y"], name="residual")]
    path = _small_net(tmp_path / "branch.onnx", nodes)
    with pytest.raises(ModelFileError, match=r"branches into 2 nodes .*'side' \(Relu\)"):
        import_onnx(path)


@pytest.mark.parametrize(("node", "message"), [
    (helper.make_node("MaxPool", ["g"], ["y"], name="p", kernel_shape=[2, 3]), "kernel_shape"),
    (helper.make_node("Softmax", ["g"], ["s"], name="early"), "only as the network's last"),
])
def test_unsupported_settings_are_named(tmp_path, node, message):
    extra = [node] if node.output[0] == "y" else [node, helper.make_node("Relu", ["s"], ["y"])]
    path = _small_net(tmp_path / "m.onnx", extra)
    with pytest.raises(ModelFileError, match=f"node '{node.name}' \\({node.op_type}\\).*{message}"):
        import_onnx(path)


def test_grouped_or_dilated_convolutions_are_refused(tmp_path):
    path = _small_net(tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    proto.graph.node[0].attribute.append(helper.make_attribute("dilations", [2, 2]))
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(ModelFileError, match=r"node 'conv' \(Conv\): dilations=\[2, 2\]"):
        import_onnx(path)


def test_dynamic_channels_that_no_conv_fixes_are_refused(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    path = _graph_file(tmp_path / "dyn.onnx", nodes, [], ("N", "C", 28, 28))
    with pytest.raises(ModelFileError, match="dynamic channel count"):
        import_onnx(path)


def test_dynamic_image_size_is_fixed_to_28_by_28_with_a_note(tmp_path):
    path = export_onnx(_reference(), tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    for dim in proto.graph.input[0].type.tensor_type.shape.dim[1:]:
        dim.dim_param = "size"
    path.write_bytes(proto.SerializeToString())
    checkpoint = import_onnx(path)
    assert checkpoint.model.input_shape == (1, 28, 28)
    assert any("fixed to 28×28" in note for note in checkpoint.warnings)


def test_without_the_onnx_package_the_message_says_how_to_install_it(tmp_path, monkeypatch):
    path = export_onnx(_reference(), tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ModelFileError, match=r'pip install "cnnviz\[onnx\]"'):
        read_model_file(path)
    with pytest.raises(ModelFileError, match=r'pip install "cnnviz\[onnx\]"'):
        export_onnx(_reference(), tmp_path / "other.onnx")
