package optimize

import (
	"fmt"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// baseName is a stem for names derived from n: its name, else its first output.
func baseName(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	return outputAt(n, 0)
}

// input returns n's input i, or "" if it has fewer.
func input(n *onnxpb.NodeProto, i int) string {
	if i < len(n.GetInput()) {
		return n.GetInput()[i]
	}
	return ""
}

// isOp reports whether n is the ONNX-domain operator op.
func isOp(n *onnxpb.NodeProto, op string) bool {
	return n != nil && n.GetOpType() == op && model.IsDefaultDomain(n.GetDomain())
}

func nodeDesc(n *onnxpb.NodeProto) string {
	return fmt.Sprintf("node %q (%s)", n.GetName(), n.GetOpType())
}
