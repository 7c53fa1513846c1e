package onnxpb_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// python is the interpreter that has onnx: QUANTPREP_PYTHON, else Debian's
// /usr/bin/python3, the one that sees python3-onnx (a python3 earlier on PATH may
// be another installation without it).
func python() string {
	if p := os.Getenv("QUANTPREP_PYTHON"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

// dumpDescriptor prints the serialized FileDescriptorProto that onnx's Python
// package was generated from.
const dumpDescriptor = `import sys
from onnx import onnx_ml_pb2
sys.stdout.buffer.write(onnx_ml_pb2.DESCRIPTOR.serialized_pb)`

// requireOracles reports whether a missing oracle must fail the test (CI) rather
// than skip it (a developer's machine).
func requireOracles() bool { return os.Getenv("QUANTPREP_REQUIRE_ORACLES") == "1" }

// oracleFile returns the descriptor of Debian python3-onnx's onnx-ml.proto.
func oracleFile(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(python(), "-c", dumpDescriptor)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := fmt.Sprintf("oracle absent: %s cannot import onnx (install Debian's python3-onnx): %v: %s",
			python(), err, strings.TrimSpace(stderr.String()))
		if requireOracles() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	fdp := &descriptorpb.FileDescriptorProto{}
	if err := proto.Unmarshal(stdout.Bytes(), fdp); err != nil {
		t.Fatalf("onnx's descriptor does not parse: %v", err)
	}
	fd, err := protodesc.NewFile(fdp, new(protoregistry.Files))
	if err != nil {
		t.Fatalf("onnx's descriptor does not build: %v", err)
	}
	return fd
}

// TestSchemaMatchesONNX checks that every message, field and enum value of the
// schema onnx's Python package uses exists in ours with the same wire meaning,
// so that models written by either side read the same on the other.
func TestSchemaMatchesONNX(t *testing.T) {
	theirs := oracleFile(t)
	if got := string(theirs.Package()); got != "onnx" {
		t.Fatalf("onnx's descriptor has package %q, want onnx", got)
	}
	diffs := compareFiles(theirs, onnxpb.File_onnx_onnx_proto)
	for _, d := range diffs {
		t.Error(d)
	}
	t.Logf("compared %d messages and %d enums of %s", countMessages(theirs.Messages()),
		countEnums(theirs), theirs.Path())
}

// TestCompareFilesFindsDifferences makes sure the comparison itself can fail:
// each edit of a copy of our own schema must be reported.
func TestCompareFilesFindsDifferences(t *testing.T) {
	ours := onnxpb.File_onnx_onnx_proto
	if d := compareFiles(ours, ours); len(d) != 0 {
		t.Fatalf("our schema differs from itself: %v", d)
	}
	field := func(fdp *descriptorpb.FileDescriptorProto, msg, name string) *descriptorpb.FieldDescriptorProto {
		for _, m := range fdp.MessageType {
			if m.GetName() != msg {
				continue
			}
			for _, f := range m.Field {
				if f.GetName() == name {
					return f
				}
			}
		}
		t.Fatalf("no field %s.%s", msg, name)
		return nil
	}
	message := func(fdp *descriptorpb.FileDescriptorProto, name string) *descriptorpb.DescriptorProto {
		for _, m := range fdp.MessageType {
			if m.GetName() == name {
				return m
			}
		}
		t.Fatalf("no message %s", name)
		return nil
	}
	tests := []struct {
		name string
		edit func(*descriptorpb.FileDescriptorProto)
		want string
	}{
		{"field number", func(f *descriptorpb.FileDescriptorProto) {
			field(f, "ModelProto", "graph").Number = proto.Int32(99)
		}, "onnx.ModelProto: field graph (99) missing"},
		{"field renamed", func(f *descriptorpb.FileDescriptorProto) {
			field(f, "NodeProto", "op_type").Name = proto.String("operator")
		}, "onnx.NodeProto: field 4 is named op_type, want operator"},
		{"field type", func(f *descriptorpb.FileDescriptorProto) {
			field(f, "TensorProto", "int64_data").Type = descriptorpb.FieldDescriptorProto_TYPE_SINT64.Enum()
		}, "onnx.TensorProto.int64_data: kind int64, want sint64"},
		{"field label", func(f *descriptorpb.FileDescriptorProto) {
			field(f, "GraphProto", "name").Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
		}, "onnx.GraphProto.name: cardinality optional, want repeated"},
		{"packedness", func(f *descriptorpb.FileDescriptorProto) {
			field(f, "TensorProto", "float_data").Options = &descriptorpb.FieldOptions{Packed: proto.Bool(false)}
		}, "onnx.TensorProto.float_data: packed true, want false"},
		{"message type", func(f *descriptorpb.FileDescriptorProto) {
			field(f, "GraphProto", "initializer").TypeName = proto.String(".onnx.SparseTensorProto")
		}, "onnx.GraphProto.initializer: type onnx.TensorProto, want onnx.SparseTensorProto"},
		{"missing field", func(f *descriptorpb.FileDescriptorProto) {
			m := message(f, "ModelProto")
			m.Field = append(m.Field, &descriptorpb.FieldDescriptorProto{Name: proto.String("ghost"),
				Number: proto.Int32(1000), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
				Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()})
		}, "onnx.ModelProto: field ghost (1000) missing"},
		{"missing nested message", func(f *descriptorpb.FileDescriptorProto) {
			m := message(f, "TypeProto")
			m.NestedType = append(m.NestedType, &descriptorpb.DescriptorProto{Name: proto.String("Ghost")})
		}, "onnx.TypeProto.Ghost: message missing"},
		{"enum value", func(f *descriptorpb.FileDescriptorProto) {
			for _, e := range message(f, "TensorProto").EnumType {
				if e.GetName() == "DataType" {
					e.Value = append(e.Value, &descriptorpb.EnumValueDescriptorProto{Name: proto.String("GHOST"), Number: proto.Int32(999)})
				}
			}
		}, "onnx.TensorProto.DataType: value GHOST missing"},
		{"enum number", func(f *descriptorpb.FileDescriptorProto) {
			for _, e := range message(f, "TensorProto").EnumType {
				if e.GetName() == "DataType" {
					e.Value[1].Number = proto.Int32(77)
				}
			}
		}, "onnx.TensorProto.DataType: value FLOAT is 1, want 77"},
		{"IR_VERSION may only grow", func(f *descriptorpb.FileDescriptorProto) {
			for _, e := range f.EnumType {
				if e.GetName() == "Version" {
					e.Value[len(e.Value)-1].Number = proto.Int32(11)
				}
			}
		}, "onnx.Version: value IR_VERSION is 10, want 11"},
		{"oneof", func(f *descriptorpb.FileDescriptorProto) {
			field(f, "TypeProto", "denotation").OneofIndex = proto.Int32(0)
		}, "onnx.TypeProto.denotation: oneof \"\", want \"value\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fdp := protodesc.ToFileDescriptorProto(ours)
			tt.edit(fdp)
			fd, err := protodesc.NewFile(fdp, new(protoregistry.Files))
			if err != nil {
				t.Fatalf("edited schema does not build: %v", err)
			}
			diffs := compareFiles(fd, ours)
			if !containsLine(diffs, tt.want) {
				t.Errorf("differences %q lack %q", diffs, tt.want)
			}
		})
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// compareFiles lists how ours fails to cover theirs: every message (nested ones
// too), field and enum value of theirs must exist in ours with the same number,
// name, kind, cardinality, packedness, type and oneof. Ours may have more.
func compareFiles(theirs, ours protoreflect.FileDescriptor) []string {
	var diffs []string
	report := func(format string, a ...any) { diffs = append(diffs, fmt.Sprintf(format, a...)) }
	var walkEnums func(es protoreflect.EnumDescriptors, find func(protoreflect.Name) protoreflect.EnumDescriptor)
	walkEnums = func(es protoreflect.EnumDescriptors, find func(protoreflect.Name) protoreflect.EnumDescriptor) {
		for i := 0; i < es.Len(); i++ {
			te := es.Get(i)
			oe := find(te.Name())
			if oe == nil {
				report("%s: enum missing", te.FullName())
				continue
			}
			for j := 0; j < te.Values().Len(); j++ {
				tv := te.Values().Get(j)
				ov := oe.Values().ByName(tv.Name())
				switch {
				case ov == nil:
					report("%s: value %s missing", te.FullName(), tv.Name())
				case ov.Number() != tv.Number() && !(te.FullName() == "onnx.Version" && tv.Name() == "IR_VERSION" && ov.Number() > tv.Number()):
					// IR_VERSION names the newest IR a schema describes: ours is newer.
					report("%s: value %s is %d, want %d", te.FullName(), tv.Name(), ov.Number(), tv.Number())
				}
			}
		}
	}
	var walkMessages func(ms protoreflect.MessageDescriptors, find func(protoreflect.Name) protoreflect.MessageDescriptor)
	walkMessages = func(ms protoreflect.MessageDescriptors, find func(protoreflect.Name) protoreflect.MessageDescriptor) {
		for i := 0; i < ms.Len(); i++ {
			tm := ms.Get(i)
			om := find(tm.Name())
			if om == nil {
				report("%s: message missing", tm.FullName())
				continue
			}
			for j := 0; j < tm.Fields().Len(); j++ {
				compareField(tm.Fields().Get(j), om, report)
			}
			walkEnums(tm.Enums(), func(n protoreflect.Name) protoreflect.EnumDescriptor { return om.Enums().ByName(n) })
			walkMessages(tm.Messages(), func(n protoreflect.Name) protoreflect.MessageDescriptor { return om.Messages().ByName(n) })
		}
	}
	walkEnums(theirs.Enums(), func(n protoreflect.Name) protoreflect.EnumDescriptor { return ours.Enums().ByName(n) })
	walkMessages(theirs.Messages(), func(n protoreflect.Name) protoreflect.MessageDescriptor { return ours.Messages().ByName(n) })
	sort.Strings(diffs)
	return diffs
}

// compareField checks that om has field tf with the same wire meaning.
func compareField(tf protoreflect.FieldDescriptor, om protoreflect.MessageDescriptor, report func(string, ...any)) {
	of := om.Fields().ByNumber(tf.Number())
	if of == nil {
		report("%s: field %s (%d) missing", om.FullName(), tf.Name(), tf.Number())
		return
	}
	if of.Name() != tf.Name() {
		report("%s: field %d is named %s, want %s", om.FullName(), tf.Number(), of.Name(), tf.Name())
		return
	}
	name := of.FullName()
	if of.Kind() != tf.Kind() {
		report("%s: kind %s, want %s", name, of.Kind(), tf.Kind())
	}
	if of.Cardinality() != tf.Cardinality() {
		report("%s: cardinality %s, want %s", name, of.Cardinality(), tf.Cardinality())
	}
	if of.IsPacked() != tf.IsPacked() {
		report("%s: packed %t, want %t", name, of.IsPacked(), tf.IsPacked())
	}
	if of.IsMap() != tf.IsMap() {
		report("%s: map %t, want %t", name, of.IsMap(), tf.IsMap())
	}
	if tm, omsg := tf.Message(), of.Message(); tm != nil && omsg != nil && tm.FullName() != omsg.FullName() {
		report("%s: type %s, want %s", name, omsg.FullName(), tm.FullName())
	}
	if te, oe := tf.Enum(), of.Enum(); te != nil && oe != nil && te.FullName() != oe.FullName() {
		report("%s: type %s, want %s", name, oe.FullName(), te.FullName())
	}
	if oneofName(of) != oneofName(tf) {
		report("%s: oneof %q, want %q", name, oneofName(of), oneofName(tf))
	}
	if tf.HasDefault() && (!of.HasDefault() || of.Default().Interface() != tf.Default().Interface()) {
		report("%s: default %v, want %v", name, of.Default(), tf.Default())
	}
}

func oneofName(f protoreflect.FieldDescriptor) protoreflect.Name {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return o.Name()
	}
	return ""
}

func countMessages(ms protoreflect.MessageDescriptors) int {
	n := ms.Len()
	for i := 0; i < ms.Len(); i++ {
		n += countMessages(ms.Get(i).Messages())
	}
	return n
}

func countEnums(fd protoreflect.FileDescriptor) int {
	n := fd.Enums().Len()
	var walk func(protoreflect.MessageDescriptors)
	walk = func(ms protoreflect.MessageDescriptors) {
		for i := 0; i < ms.Len(); i++ {
			n += ms.Get(i).Enums().Len()
			walk(ms.Get(i).Messages())
		}
	}
	walk(fd.Messages())
	return n
}
