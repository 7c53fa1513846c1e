"""external_locations walks the wire format to every tensor that can hold
external data, without onnx and without reading the weights."""

import os
import tempfile
import unittest

from helpers import ext_tensor, field, have_onnx, require_deps, varint

require_deps()

from quantprep import external_locations, external_locations_of_file  # noqa: E402
from quantprep._locations import WireError  # noqa: E402


def model(*graph_fields, extra=b""):
    return field(1, 8) + field(7, b"".join(graph_fields)) + extra


class ExternalLocationsTest(unittest.TestCase):
    def test_paths_to_tensors(self):
        sub_graph = field(5, ext_tensor("s", "sub/if.bin"))
        attr_t = field(1, b"value") + field(5, ext_tensor("c", "attr_t.bin"))
        attr_tensors = field(1, b"vals") + field(10, ext_tensor("c1", "attr_list.bin"))
        attr_g = field(1, b"then_branch") + field(6, sub_graph)
        sparse = field(1, ext_tensor("v", "sparse_values.bin")) + field(2, ext_tensor("i", "sparse_idx.bin"))
        node = field(4, b"If") + field(5, attr_t) + field(5, attr_tensors) + field(5, attr_g)
        func = field(1, b"f") + field(7, field(4, b"Constant") + field(5, field(1, b"value") + field(5, ext_tensor("fc", "func.bin"))))
        training = field(1, field(5, ext_tensor("ti", "train.bin")))
        cases = {
            "initializer": (model(field(5, ext_tensor("w", "w.bin"))), ["w.bin"]),
            "cleaned": (model(field(5, ext_tensor("w", "./d//w.bin"))), ["d/w.bin"]),
            "inline tensor ignored": (model(field(5, ext_tensor("w", "w.bin", data_location=0))), []),
            "node attributes and subgraph": (model(field(1, node)), ["attr_list.bin", "attr_t.bin", "sub/if.bin"]),
            "sparse initializer": (model(field(15, sparse)), ["sparse_idx.bin", "sparse_values.bin"]),
            "function": (model(extra=field(25, func)), ["func.bin"]),
            "training info": (model(extra=field(20, training)), ["train.bin"]),
            "shared file once": (model(field(5, ext_tensor("a", "x.bin")), field(5, ext_tensor("b", "x.bin"))), ["x.bin"]),
            "empty": (b"", []),
        }
        for name, (data, want) in cases.items():
            with self.subTest(name):
                self.assertEqual(external_locations(data), want)

    def test_merged_singular_tensor(self):
        # An attribute's t occurring twice is one merged tensor: the location of
        # the first and the data_location of the second make it external.
        t1 = field(1, 1) + field(13, field(1, b"location") + field(2, b"merged.bin"))
        t2 = field(14, 1)
        attr = field(1, b"value") + field(5, t1) + field(5, t2)
        self.assertEqual(external_locations(model(field(1, field(5, attr)))), ["merged.bin"])

    def test_not_a_model(self):
        for name, data in {"truncated": model(field(5, ext_tensor("w", "w.bin")))[:-3],
                           "end group": b"\x0c", "text": b"hello, world\n"}.items():
            with self.subTest(name), self.assertRaises(WireError):
                external_locations(data)

    def test_file_without_reading_weights(self):
        # A 256 MiB raw_data field, a hole in a sparse file, is skipped, not
        # read.
        n = 256 << 20
        head = field(1, 1) + field(8, b"big") + varint(9 << 3 | 2) + varint(n)
        big_len = len(head) + n
        after = field(5, ext_tensor("w", "w.bin"))
        graph_len = len(varint(5 << 3 | 2)) + len(varint(big_len)) + big_len + len(after)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m.onnx")
            with open(p, "wb") as f:
                f.write(field(1, 8) + varint(7 << 3 | 2) + varint(graph_len) + varint(5 << 3 | 2) + varint(big_len) + head)
                f.seek(n, os.SEEK_CUR)
                f.write(after)
            self.assertEqual(external_locations_of_file(p), ["w.bin"])

    @unittest.skipUnless(have_onnx(), "onnx is not installed")
    def test_matches_onnx(self):
        import numpy as np
        import onnx
        from onnx import helper, numpy_helper
        from onnx.external_data_helper import convert_model_to_external_data
        w = numpy_helper.from_array(np.ones((64, 64), np.float32), "w")
        c = helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.ones((32, 32), np.float32), "cv"))
        then_g = helper.make_graph([helper.make_node("Identity", ["w2"], ["t"])], "then", [],
                                   [helper.make_tensor_value_info("t", onnx.TensorProto.FLOAT, None)],
                                   [numpy_helper.from_array(np.ones((48, 48), np.float32), "w2")])
        else_g = helper.make_graph([helper.make_node("Identity", ["c"], ["e"])], "else", [],
                                   [helper.make_tensor_value_info("e", onnx.TensorProto.FLOAT, None)])
        n_if = helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)
        g = helper.make_graph([c, n_if], "g", [helper.make_tensor_value_info("cond", onnx.TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], [w])
        m = helper.make_model(g)
        convert_model_to_external_data(m, all_tensors_to_one_file=False, size_threshold=0, convert_attribute=True)
        want = sorted({e.value for t in _all_tensors(m) for e in t.external_data if e.key == "location"})
        self.assertGreaterEqual(len(want), 3)
        self.assertEqual(external_locations(m.SerializeToString()), want)


def _all_tensors(m):
    from onnx.external_data_helper import _get_all_tensors
    return list(_get_all_tensors(m))


if __name__ == "__main__":
    unittest.main()
