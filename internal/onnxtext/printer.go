package onnxtext

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/internal/float16"
)

// DefaultMaxElements is the largest tensor PrintModel and PrintGraph print in
// full; bigger tensors print as `{...}`.
const DefaultMaxElements = 16

// Printer renders protos in the textual syntax.
//
// Output is deterministic and, for everything the syntax can express,
// ParseModel reads it back to a proto equal to the input after Normalize.
// What the syntax cannot express is dropped: doc_string of graphs, nodes,
// value infos and tensors, dimension denotations, metadata_props below the
// model and function level, quantization annotations and training info.
// Values the parser cannot read back are printed with the print-only
// elision marker `...`: tensors with more than MaxElements elements
// (`float[1000] w = {...}`), sparse tensors, complex and 8-bit/4-bit float
// tensor values. ParseModel rejects `...` with a clear error.
type Printer struct {
	// MaxElements is the largest tensor printed in full; negative prints all.
	MaxElements int
}

// PrintModel prints m with DefaultMaxElements.
func PrintModel(m *onnxpb.ModelProto) string {
	return Printer{MaxElements: DefaultMaxElements}.Model(m)
}

// PrintGraph prints g with DefaultMaxElements.
func PrintGraph(g *onnxpb.GraphProto) string {
	return Printer{MaxElements: DefaultMaxElements}.Graph(g)
}

// PrintFunction prints f with DefaultMaxElements.
func PrintFunction(f *onnxpb.FunctionProto) string {
	return Printer{MaxElements: DefaultMaxElements}.Function(f)
}

// Model renders a whole model: header, main graph, then functions.
func (pr Printer) Model(m *onnxpb.ModelProto) string {
	w := &writer{pr: pr}
	var hdr []string
	if m.IrVersion != nil {
		hdr = append(hdr, "ir_version: "+strconv.FormatInt(m.GetIrVersion(), 10))
	}
	if len(m.OpsetImport) > 0 {
		hdr = append(hdr, "opset_import: "+opsetText(m.OpsetImport))
	}
	if m.ProducerName != nil {
		hdr = append(hdr, "producer_name: "+quote(m.GetProducerName()))
	}
	if m.ProducerVersion != nil {
		hdr = append(hdr, "producer_version: "+quote(m.GetProducerVersion()))
	}
	if m.Domain != nil {
		hdr = append(hdr, "domain: "+quote(m.GetDomain()))
	}
	if m.ModelVersion != nil {
		hdr = append(hdr, "model_version: "+strconv.FormatInt(m.GetModelVersion(), 10))
	}
	if m.DocString != nil {
		hdr = append(hdr, "doc_string: "+quote(m.GetDocString()))
	}
	if len(m.MetadataProps) > 0 {
		hdr = append(hdr, "metadata_props: "+strStrText(m.MetadataProps))
	}
	if len(hdr) > 0 {
		w.s.WriteString("<\n")
		w.lines(len(hdr), 0, func(i int) { w.s.WriteString(hdr[i]) })
		w.s.WriteString(">\n")
	}
	g := m.GetGraph()
	if g == nil {
		g = &onnxpb.GraphProto{}
	}
	w.graph(g, 0)
	w.s.WriteString("\n")
	for _, f := range m.Functions {
		w.s.WriteString("\n")
		w.function(f)
	}
	return w.s.String()
}

// Graph renders a bare graph.
func (pr Printer) Graph(g *onnxpb.GraphProto) string {
	w := &writer{pr: pr}
	w.graph(g, 0)
	w.s.WriteString("\n")
	return w.s.String()
}

// Function renders one function.
func (pr Printer) Function(f *onnxpb.FunctionProto) string {
	w := &writer{pr: pr}
	w.function(f)
	return w.s.String()
}

type writer struct {
	pr Printer
	s  strings.Builder
}

func opsetText(ops []*onnxpb.OperatorSetIdProto) string {
	parts := make([]string, len(ops))
	for i, o := range ops {
		parts[i] = quote(o.GetDomain()) + " : " + strconv.FormatInt(o.GetVersion(), 10)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func strStrText(kv []*onnxpb.StringStringEntryProto) string {
	parts := make([]string, len(kv))
	for i, e := range kv {
		parts[i] = quote(e.GetKey()) + ": " + quote(e.GetValue())
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// isIdent reports whether s can be written as a bare identifier.
func isIdent(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return true
}

// name renders a value or graph name, quoting it unless it is a plain
// identifier that cannot be mistaken for a keyword.
func name(s string) string {
	if isIdent(s) && !isTypeKeyword(s) && s != "inf" && s != "nan" {
		return s
	}
	return quote(s)
}

// nameList renders input/output names; empty names print as nothing, except
// a lone empty name, which must be quoted to be seen.
func nameList(names []string) string {
	if len(names) == 1 && names[0] == "" {
		return `""`
	}
	parts := make([]string, len(names))
	for i, n := range names {
		if n != "" {
			parts[i] = name(n)
		}
	}
	return strings.TrimRight(strings.Join(parts, ", "), " ")
}

func typeText(t *onnxpb.TypeProto) string {
	switch v := t.GetValue().(type) {
	case *onnxpb.TypeProto_TensorType:
		return elemTypeName(v.TensorType.GetElemType()) + shapeText(v.TensorType.Shape)
	case *onnxpb.TypeProto_SequenceType:
		return "seq(" + typeText(v.SequenceType.GetElemType()) + ")"
	case *onnxpb.TypeProto_OptionalType:
		return "optional(" + typeText(v.OptionalType.GetElemType()) + ")"
	case *onnxpb.TypeProto_MapType:
		return "map(" + elemTypeName(v.MapType.GetKeyType()) + ", " + typeText(v.MapType.GetValueType()) + ")"
	case *onnxpb.TypeProto_SparseTensorType:
		return "sparse_tensor(" + elemTypeName(v.SparseTensorType.GetElemType()) + shapeText(v.SparseTensorType.Shape) + ")"
	case *onnxpb.TypeProto_OpaqueType:
		o := v.OpaqueType
		switch {
		case o.GetDomain() != "":
			return "opaque(" + o.GetDomain() + ", " + o.GetName() + ")"
		case o.GetName() != "":
			return "opaque(" + o.GetName() + ")"
		}
		return "opaque()"
	}
	return "?"
}

// shapeText renders a shape: nil is unknown rank `[]`, no dims is a scalar
// (nothing), otherwise `[d0,d1,...]`.
func shapeText(s *onnxpb.TensorShapeProto) string {
	if s == nil {
		return "[]"
	}
	if len(s.Dim) == 0 {
		return ""
	}
	parts := make([]string, len(s.Dim))
	for i, d := range s.Dim {
		switch v := d.Value.(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			parts[i] = strconv.FormatInt(v.DimValue, 10)
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			if isIdent(v.DimParam) {
				parts[i] = v.DimParam
			} else {
				parts[i] = quote(v.DimParam)
			}
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func valueInfoText(v *onnxpb.ValueInfoProto) string {
	if v.Type == nil || v.Type.Value == nil {
		return name(v.GetName())
	}
	return typeText(v.Type) + " " + name(v.GetName())
}

func (w *writer) indent(n int) { w.s.WriteString(strings.Repeat("  ", n)) }

// list writes items between open and close on one line when short, else one
// per line indented one level deeper than depth, the indentation of the line
// that open is on.
func (w *writer) list(open, close string, items []string, depth int) {
	total := 0
	for _, it := range items {
		total += len(it) + 2
	}
	if total <= 80 {
		w.s.WriteString(open + strings.Join(items, ", ") + close)
		return
	}
	w.s.WriteString(open + "\n")
	w.lines(len(items), depth, func(i int) { w.s.WriteString(items[i]) })
	w.s.WriteString(close)
}

// lines writes n items, each on its own line indented one level deeper than
// depth and followed by a comma but the last, then indents the closing line
// at depth.
func (w *writer) lines(n, depth int, item func(i int)) {
	for i := 0; i < n; i++ {
		w.indent(depth + 1)
		item(i)
		if i < n-1 {
			w.s.WriteString(",")
		}
		w.s.WriteString("\n")
	}
	w.indent(depth)
}

// graph writes g; depth is the indentation of its header line. Initializers
// all go to the `<...>` declarations, in order, so that parsing restores
// their order and inputs stay plain declarations.
func (w *writer) graph(g *onnxpb.GraphProto, depth int) {
	w.s.WriteString(name(g.GetName()) + " ")
	var ins, outs, decls []string
	for _, v := range g.Input {
		ins = append(ins, valueInfoText(v))
	}
	for _, v := range g.Output {
		outs = append(outs, valueInfoText(v))
	}
	for _, t := range g.Initializer {
		decls = append(decls, w.tensorDecl(t))
	}
	for _, v := range g.ValueInfo {
		decls = append(decls, valueInfoText(v))
	}
	for _, s := range g.SparseInitializer {
		decls = append(decls, "sparse_tensor "+name(sparseName(s))+" = {...}")
	}
	w.list("(", ")", ins, depth)
	w.s.WriteString(" => ")
	w.list("(", ")", outs, depth)
	if len(decls) > 0 {
		w.s.WriteString("\n")
		w.indent(depth + 1)
		w.list("<", ">", decls, depth+1)
	}
	w.s.WriteString("\n")
	w.indent(depth)
	w.s.WriteString("{\n")
	for _, n := range g.Node {
		w.node(n, depth+1)
	}
	w.indent(depth)
	w.s.WriteString("}")
}

func sparseName(s *onnxpb.SparseTensorProto) string {
	return s.GetValues().GetName()
}

func (w *writer) node(n *onnxpb.NodeProto, depth int) {
	w.indent(depth)
	if n.Name != nil {
		w.s.WriteString("[" + name(n.GetName()) + "] ")
	}
	if len(n.Output) > 0 {
		w.s.WriteString(nameList(n.Output) + " ")
	}
	w.s.WriteString("= ")
	if d := n.GetDomain(); d != "" {
		w.s.WriteString(d + ".")
	}
	w.s.WriteString(n.GetOpType())
	if n.Overload != nil && n.GetOverload() != "" {
		w.s.WriteString(":" + n.GetOverload())
	}
	if !hasGraphAttr(n) {
		if len(n.Attribute) > 0 {
			w.s.WriteString(" <")
			for i, a := range n.Attribute {
				if i > 0 {
					w.s.WriteString(", ")
				}
				w.attr(a, depth)
			}
			w.s.WriteString(">")
		}
		w.s.WriteString(" (" + nameList(n.Input) + ")\n")
		return
	}
	// Subgraphs read better after the inputs, one attribute per line.
	w.s.WriteString(" (" + nameList(n.Input) + ") <\n")
	w.lines(len(n.Attribute), depth, func(i int) { w.attr(n.Attribute[i], depth+1) })
	w.s.WriteString(">\n")
}

func hasGraphAttr(n *onnxpb.NodeProto) bool {
	for _, a := range n.Attribute {
		if a.G != nil || len(a.Graphs) > 0 {
			return true
		}
	}
	return false
}

// attrTypeAnnotation says whether the value text alone would not restore
// the attribute's type.
func attrNeedsType(a *onnxpb.AttributeProto) bool {
	switch a.GetType() {
	case onnxpb.AttributeProto_INTS:
		return len(a.Ints) == 0
	case onnxpb.AttributeProto_FLOATS:
		return len(a.Floats) == 0
	case onnxpb.AttributeProto_STRINGS:
		return len(a.Strings) == 0
	case onnxpb.AttributeProto_TENSORS:
		return len(a.Tensors) == 0
	case onnxpb.AttributeProto_GRAPHS:
		return len(a.Graphs) == 0
	case onnxpb.AttributeProto_TYPE_PROTOS:
		return len(a.TypeProtos) == 0
	case onnxpb.AttributeProto_SPARSE_TENSOR, onnxpb.AttributeProto_SPARSE_TENSORS:
		return true
	}
	return false
}

func (w *writer) attr(a *onnxpb.AttributeProto, depth int) {
	w.s.WriteString(a.GetName())
	if a.RefAttrName != nil {
		if a.Type != nil && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
			w.s.WriteString(": " + attrTypeNames[a.GetType()])
		}
		w.s.WriteString(" = @" + name(a.GetRefAttrName()))
		return
	}
	if attrNeedsType(a) {
		w.s.WriteString(": " + attrTypeNames[a.GetType()])
	}
	w.s.WriteString(" = ")
	w.attrValue(a, depth)
}

func (w *writer) attrValue(a *onnxpb.AttributeProto, depth int) {
	switch a.GetType() {
	case onnxpb.AttributeProto_INT:
		w.s.WriteString(strconv.FormatInt(a.GetI(), 10))
	case onnxpb.AttributeProto_FLOAT:
		w.s.WriteString(floatAttrText(a.GetF()))
	case onnxpb.AttributeProto_STRING:
		w.s.WriteString(quote(string(a.S)))
	case onnxpb.AttributeProto_TENSOR:
		w.s.WriteString(w.tensorConst(a.T))
	case onnxpb.AttributeProto_GRAPH:
		w.graph(a.G, depth)
	case onnxpb.AttributeProto_TYPE_PROTO:
		w.s.WriteString(typeText(a.Tp))
	case onnxpb.AttributeProto_INTS:
		parts := make([]string, len(a.Ints))
		for i, v := range a.Ints {
			parts[i] = strconv.FormatInt(v, 10)
		}
		w.s.WriteString("[" + strings.Join(parts, ", ") + "]")
	case onnxpb.AttributeProto_FLOATS:
		parts := make([]string, len(a.Floats))
		for i, v := range a.Floats {
			parts[i] = floatAttrText(v)
		}
		w.s.WriteString("[" + strings.Join(parts, ", ") + "]")
	case onnxpb.AttributeProto_STRINGS:
		parts := make([]string, len(a.Strings))
		for i, v := range a.Strings {
			parts[i] = quote(string(v))
		}
		w.s.WriteString("[" + strings.Join(parts, ", ") + "]")
	case onnxpb.AttributeProto_TENSORS:
		parts := make([]string, len(a.Tensors))
		for i, v := range a.Tensors {
			parts[i] = w.tensorConst(v)
		}
		w.s.WriteString("[" + strings.Join(parts, ", ") + "]")
	case onnxpb.AttributeProto_GRAPHS:
		w.s.WriteString("[\n")
		w.lines(len(a.Graphs), depth, func(i int) { w.graph(a.Graphs[i], depth+1) })
		w.s.WriteString("]")
	case onnxpb.AttributeProto_TYPE_PROTOS:
		parts := make([]string, len(a.TypeProtos))
		for i, v := range a.TypeProtos {
			parts[i] = typeText(v)
		}
		w.s.WriteString("[" + strings.Join(parts, ", ") + "]")
	default:
		w.s.WriteString("...")
	}
}

// floatAttrText renders a float attribute so that it lexes as a float.
func floatAttrText(f float32) string {
	s := floatText(float64(f), 32)
	if strings.ContainsAny(s, ".eni") {
		return s
	}
	return s + ".0"
}

func floatText(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// tensorType renders a tensor's type from its data type and dims.
func tensorType(t *onnxpb.TensorProto) string {
	s := elemTypeName(t.GetDataType())
	if len(t.Dims) > 0 {
		parts := make([]string, len(t.Dims))
		for i, d := range t.Dims {
			parts[i] = strconv.FormatInt(d, 10)
		}
		s += "[" + strings.Join(parts, ",") + "]"
	}
	return s
}

// tensorDecl renders an initializer: `type name = data`.
func (w *writer) tensorDecl(t *onnxpb.TensorProto) string {
	return tensorType(t) + " " + name(t.GetName()) + " = " + w.tensorData(t)
}

// tensorConst renders a tensor attribute value: `type [name] data`.
func (w *writer) tensorConst(t *onnxpb.TensorProto) string {
	s := tensorType(t)
	if t.GetName() != "" {
		s += " " + name(t.GetName())
	}
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		// Without "=", `float []` would read as the type float[].
		return s + " = " + w.tensorData(t)
	}
	return s + " " + w.tensorData(t)
}

func (w *writer) tensorData(t *onnxpb.TensorProto) string {
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return strStrText(t.ExternalData)
	}
	n, elem, ok := tensorElems(t)
	if !ok || (w.pr.MaxElements >= 0 && n > w.pr.MaxElements) {
		return "{...}"
	}
	buf := make([]byte, 0, 2+n*8)
	buf = append(buf, '{')
	for i := 0; i < n; i++ {
		if i > 0 {
			buf = append(buf, ", "...)
		}
		buf = elem(buf, i)
	}
	buf = append(buf, '}')
	return string(buf)
}

func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "nan"...)
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

// tensorElems returns the number of elements of t and a function appending
// the literal of element i, reading raw_data when present. It reports false
// for element types the syntax has no literals for.
func tensorElems(t *onnxpb.TensorProto) (int, func([]byte, int) []byte, bool) {
	et := onnxpb.TensorProto_DataType(t.GetDataType())
	raw := t.RawData
	hasRaw := t.RawData != nil
	size := map[onnxpb.TensorProto_DataType]int{
		onnxpb.TensorProto_FLOAT: 4, onnxpb.TensorProto_DOUBLE: 8, onnxpb.TensorProto_FLOAT16: 2, onnxpb.TensorProto_BFLOAT16: 2,
		onnxpb.TensorProto_INT8: 1, onnxpb.TensorProto_UINT8: 1, onnxpb.TensorProto_BOOL: 1, onnxpb.TensorProto_INT16: 2,
		onnxpb.TensorProto_UINT16: 2, onnxpb.TensorProto_INT32: 4, onnxpb.TensorProto_INT64: 8, onnxpb.TensorProto_UINT32: 4,
		onnxpb.TensorProto_UINT64: 8,
	}[et]
	if hasRaw && (size == 0 || len(raw)%size != 0) {
		return 0, nil, false
	}
	n := len(raw) / max(size, 1)
	var rawElem func(b []byte, i int) []byte
	switch et {
	case onnxpb.TensorProto_FLOAT:
		rawElem = func(b []byte, i int) []byte {
			return appendFloat(b, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))), 32)
		}
		if !hasRaw {
			return len(t.FloatData), func(b []byte, i int) []byte { return appendFloat(b, float64(t.FloatData[i]), 32) }, true
		}
	case onnxpb.TensorProto_DOUBLE:
		rawElem = func(b []byte, i int) []byte {
			return appendFloat(b, math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])), 64)
		}
		if !hasRaw {
			return len(t.DoubleData), func(b []byte, i int) []byte { return appendFloat(b, t.DoubleData[i], 64) }, true
		}
	case onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
		conv := float16.ToFloat32
		if et == onnxpb.TensorProto_BFLOAT16 {
			conv = float16.BFloat16ToFloat32
		}
		rawElem = func(b []byte, i int) []byte {
			return appendFloat(b, float64(conv(binary.LittleEndian.Uint16(raw[2*i:]))), 32)
		}
		if !hasRaw {
			return len(t.Int32Data), func(b []byte, i int) []byte { return appendFloat(b, float64(conv(uint16(t.Int32Data[i]))), 32) }, true
		}
	case onnxpb.TensorProto_INT8, onnxpb.TensorProto_UINT8, onnxpb.TensorProto_BOOL,
		onnxpb.TensorProto_INT16, onnxpb.TensorProto_UINT16, onnxpb.TensorProto_INT32:
		rawElem = func(b []byte, i int) []byte {
			var v int64
			switch et {
			case onnxpb.TensorProto_INT8:
				v = int64(int8(raw[i]))
			case onnxpb.TensorProto_UINT8, onnxpb.TensorProto_BOOL:
				v = int64(raw[i])
			case onnxpb.TensorProto_INT16:
				v = int64(int16(binary.LittleEndian.Uint16(raw[2*i:])))
			case onnxpb.TensorProto_UINT16:
				v = int64(binary.LittleEndian.Uint16(raw[2*i:]))
			default:
				v = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			}
			return strconv.AppendInt(b, v, 10)
		}
		if !hasRaw {
			return len(t.Int32Data), func(b []byte, i int) []byte { return strconv.AppendInt(b, int64(t.Int32Data[i]), 10) }, true
		}
	case onnxpb.TensorProto_INT64:
		rawElem = func(b []byte, i int) []byte {
			return strconv.AppendInt(b, int64(binary.LittleEndian.Uint64(raw[8*i:])), 10)
		}
		if !hasRaw {
			return len(t.Int64Data), func(b []byte, i int) []byte { return strconv.AppendInt(b, t.Int64Data[i], 10) }, true
		}
	case onnxpb.TensorProto_UINT32, onnxpb.TensorProto_UINT64:
		rawElem = func(b []byte, i int) []byte {
			if size == 4 {
				return strconv.AppendUint(b, uint64(binary.LittleEndian.Uint32(raw[4*i:])), 10)
			}
			return strconv.AppendUint(b, binary.LittleEndian.Uint64(raw[8*i:]), 10)
		}
		if !hasRaw {
			return len(t.Uint64Data), func(b []byte, i int) []byte { return strconv.AppendUint(b, t.Uint64Data[i], 10) }, true
		}
	case onnxpb.TensorProto_STRING:
		return len(t.StringData), func(b []byte, i int) []byte { return append(b, quote(string(t.StringData[i]))...) }, true
	default:
		return 0, nil, false
	}
	return n, rawElem, true
}

func (w *writer) function(f *onnxpb.FunctionProto) {
	var hdr []string
	if f.Domain != nil {
		hdr = append(hdr, "domain: "+quote(f.GetDomain()))
	}
	if f.Overload != nil {
		hdr = append(hdr, "overload: "+quote(f.GetOverload()))
	}
	if len(f.OpsetImport) > 0 {
		hdr = append(hdr, "opset_import: "+opsetText(f.OpsetImport))
	}
	if f.DocString != nil {
		hdr = append(hdr, "doc_string: "+quote(f.GetDocString()))
	}
	if len(f.MetadataProps) > 0 {
		hdr = append(hdr, "metadata_props: "+strStrText(f.MetadataProps))
	}
	if len(hdr) > 0 {
		w.s.WriteString("<" + strings.Join(hdr, ", ") + ">\n")
	}
	w.s.WriteString(name(f.GetName()))
	if len(f.Attribute)+len(f.AttributeProto) > 0 {
		w.s.WriteString(" <")
		parts := make([]string, 0, len(f.Attribute))
		for _, a := range f.Attribute {
			parts = append(parts, a)
		}
		w.s.WriteString(strings.Join(parts, ", "))
		for i, a := range f.AttributeProto {
			if i > 0 || len(parts) > 0 {
				w.s.WriteString(", ")
			}
			w.s.WriteString(a.GetName())
			if a.GetType() != onnxpb.AttributeProto_UNDEFINED && attrIsEmpty(a) {
				// A declaration with a type but no default value.
				w.s.WriteString(": " + attrTypeNames[a.GetType()])
				continue
			}
			w.s.WriteString(strings.TrimPrefix(attrText(w, a, 0), a.GetName()))
		}
		w.s.WriteString(">")
	}
	// Typed parameters print their types and the other value infos go to
	// the `<...>` list, as long as that keeps the value infos' order (the
	// parser adds them in reading order); otherwise all go to the list.
	inline := func() (in, out []string, rest []*onnxpb.ValueInfoProto) {
		byName := map[string]*onnxpb.ValueInfoProto{}
		for _, v := range f.ValueInfo {
			if _, dup := byName[v.GetName()]; !dup && v.Type != nil && v.Type.Value != nil {
				byName[v.GetName()] = v
			}
		}
		used := map[*onnxpb.ValueInfoProto]bool{}
		var order []*onnxpb.ValueInfoProto
		params := func(names []string) []string {
			parts := make([]string, len(names))
			for i, n := range names {
				if v, ok := byName[n]; ok && !used[v] {
					used[v] = true
					order = append(order, v)
					parts[i] = valueInfoText(v)
				} else {
					parts[i] = name(n)
				}
			}
			return parts
		}
		in, out = params(f.Input), params(f.Output)
		for _, v := range f.ValueInfo {
			if !used[v] {
				rest = append(rest, v)
				order = append(order, v)
			}
		}
		for i, v := range order {
			if f.ValueInfo[i] != v {
				return nil, nil, nil
			}
		}
		return in, out, rest
	}
	in, out, restVI := inline()
	if in == nil && out == nil && restVI == nil {
		for _, n := range f.Input {
			in = append(in, name(n))
		}
		for _, n := range f.Output {
			out = append(out, name(n))
		}
		restVI = f.ValueInfo
	}
	w.s.WriteString(" (" + strings.Join(in, ", ") + ") => (" + strings.Join(out, ", ") + ")")
	var rest []string
	for _, v := range restVI {
		rest = append(rest, valueInfoText(v))
	}
	if len(rest) > 0 {
		w.s.WriteString("\n  ")
		w.list("<", ">", rest, 1)
	}
	w.s.WriteString("\n{\n")
	for _, n := range f.Node {
		w.node(n, 1)
	}
	w.s.WriteString("}\n")
}

// attrIsEmpty reports whether a carries no value (a function attribute
// declared with a type only).
func attrIsEmpty(a *onnxpb.AttributeProto) bool {
	return a.I == nil && a.F == nil && a.S == nil && a.T == nil && a.G == nil && a.Tp == nil &&
		a.SparseTensor == nil && len(a.Ints) == 0 && len(a.Floats) == 0 && len(a.Strings) == 0 &&
		len(a.Tensors) == 0 && len(a.Graphs) == 0 && len(a.TypeProtos) == 0 && len(a.SparseTensors) == 0 &&
		a.RefAttrName == nil && singular(a.GetType()) == a.GetType()
}

func attrText(w *writer, a *onnxpb.AttributeProto, depth int) string {
	sub := &writer{pr: w.pr}
	sub.attr(a, depth)
	return sub.s.String()
}
