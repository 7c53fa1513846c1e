package client

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
)

func external(name, loc string) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
		ExternalData: []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(loc)}}}
}

func TestExternalLocations(t *testing.T) {
	sub := &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{external("s", "sub/s.bin")}}
	tests := []struct {
		name string
		mp   *onnxpb.ModelProto
		want []string
	}{
		{"inline", &onnxpb.ModelProto{Graph: &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{{Name: proto.String("w"), RawData: []byte{1}}}}}, nil},
		{"initializers, deduplicated and cleaned", &onnxpb.ModelProto{Graph: &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{
			external("a", "w.bin"), external("b", "./w.bin"), external("c", "data/x.bin")}}}, []string{"data/x.bin", "w.bin"}},
		{"attributes, subgraphs, sparse and functions", &onnxpb.ModelProto{
			Graph: &onnxpb.GraphProto{
				Node: []*onnxpb.NodeProto{
					{OpType: proto.String("Constant"), Attribute: []*onnxpb.AttributeProto{{Name: proto.String("value"), T: external("k", "const.bin")}}},
					{OpType: proto.String("If"), Attribute: []*onnxpb.AttributeProto{{Name: proto.String("then_branch"), G: sub}}},
				},
				SparseInitializer: []*onnxpb.SparseTensorProto{{Values: external("v", "sparse.bin")}},
			},
			Functions: []*onnxpb.FunctionProto{{Node: []*onnxpb.NodeProto{{Attribute: []*onnxpb.AttributeProto{{Tensors: []*onnxpb.TensorProto{external("f", "fn.bin")}}}}}}},
		}, []string{"const.bin", "fn.bin", "sparse.bin", "sub/s.bin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.mp)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ExternalLocations(b)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := ExternalLocations([]byte("\xff\xff not a model")); err == nil {
		t.Error("junk parsed as a model")
	}
}

// scriptedServer answers every stream with a fixed list of responses, then err.
type scriptedServer struct {
	quantprepv1.UnimplementedPreprocessServiceServer
	resps []*quantprepv1.PreprocessResponse
	err   error
}

func (s *scriptedServer) Preprocess(stream quantprepv1.PreprocessService_PreprocessServer) error {
	// Accept the stream at once, as quantprep's server does.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
	}
	for _, r := range s.resps {
		if err := stream.Send(r); err != nil {
			return err
		}
	}
	return s.err
}

func dial(t *testing.T, srv quantprepv1.PreprocessServiceServer) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	quantprepv1.RegisterPreprocessServiceServer(gs, srv)
	go gs.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); gs.Stop() })
	return conn
}

func TestNothingHalfWritten(t *testing.T) {
	modelChunk := func(b string) *quantprepv1.PreprocessResponse {
		return &quantprepv1.PreprocessResponse{Payload: &quantprepv1.PreprocessResponse_ModelChunk{ModelChunk: &quantprepv1.Chunk{Data: []byte(b)}}}
	}
	extChunk := func(loc, b string) *quantprepv1.PreprocessResponse {
		return &quantprepv1.PreprocessResponse{Payload: &quantprepv1.PreprocessResponse_ExternalDataChunk{
			ExternalDataChunk: &quantprepv1.ExternalDataChunk{Location: loc, Data: []byte(b)}}}
	}
	summary := &quantprepv1.PreprocessResponse{Payload: &quantprepv1.PreprocessResponse_Summary{Summary: &quantprepv1.Summary{}}}
	tests := []struct {
		name  string
		srv   *scriptedServer
		code  codes.Code
		msg   string
		files []string // what the output directory holds afterwards
	}{
		{"error after output chunks", &scriptedServer{resps: []*quantprepv1.PreprocessResponse{modelChunk("abc"), extChunk("out.onnx.data", "xyz")},
			err: status.Error(codes.Internal, "disk full")}, codes.Internal, "disk full", nil},
		{"no summary", &scriptedServer{resps: []*quantprepv1.PreprocessResponse{modelChunk("abc")}}, codes.Unknown, "without a summary", nil},
		{"escaping location", &scriptedServer{resps: []*quantprepv1.PreprocessResponse{modelChunk("abc"), extChunk("../evil", "x"), summary}},
			codes.Unknown, "bad external data location", nil},
		{"file sent twice", &scriptedServer{resps: []*quantprepv1.PreprocessResponse{modelChunk("a"), extChunk("d", "x"), modelChunk("b"), summary}},
			codes.Unknown, "again", nil},
		{"no model", &scriptedServer{resps: []*quantprepv1.PreprocessResponse{summary}}, codes.Unknown, "no output model", nil},
		{"success", &scriptedServer{resps: []*quantprepv1.PreprocessResponse{modelChunk("ab"), modelChunk("c"), extChunk("sub/w.data", "xyz"), summary}},
			codes.OK, "", []string{"out.onnx", "sub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := dial(t, tt.srv)
			in := filepath.Join(t.TempDir(), "in.onnx")
			b, _ := proto.Marshal(&onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: &onnxpb.GraphProto{}})
			os.WriteFile(in, b, 0o644)
			outDir := t.TempDir()
			_, err := PreprocessFile(context.Background(), conn, in, filepath.Join(outDir, "out.onnx"), nil, nil)
			if st := status.Convert(err); st.Code() != tt.code || !strings.Contains(st.Message(), tt.msg) {
				t.Errorf("got %v, want %v containing %q", err, tt.code, tt.msg)
			}
			entries, _ := os.ReadDir(outDir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if strings.Join(names, ",") != strings.Join(tt.files, ",") {
				t.Errorf("output dir holds %v, want %v", names, tt.files)
			}
			if tt.code == codes.OK {
				if got, _ := os.ReadFile(filepath.Join(outDir, "out.onnx")); string(got) != "abc" {
					t.Errorf("model %q", got)
				}
				if st, err := os.Stat(filepath.Join(outDir, "out.onnx")); err != nil || st.Mode().Perm() != 0o644 {
					t.Errorf("output mode: %v %v", st.Mode(), err)
				}
				if got, _ := os.ReadFile(filepath.Join(outDir, "sub", "w.data")); string(got) != "xyz" {
					t.Errorf("external data %q", got)
				}
			}
		})
	}
}

func TestMissingExternalFile(t *testing.T) {
	conn := dial(t, &scriptedServer{})
	dir := t.TempDir()
	b, _ := proto.Marshal(&onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{external("w", "gone.bin")}}})
	in := filepath.Join(dir, "in.onnx")
	os.WriteFile(in, b, 0o644)
	_, err := PreprocessFile(context.Background(), conn, in, filepath.Join(dir, "out.onnx"), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "gone.bin") {
		t.Errorf("got %v, want an error naming gone.bin", err)
	}
}

// TestImports keeps the client free of the pipeline, the server and zap: it
// must build with the API packages alone.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/quantprep/quantprep/") && !strings.HasPrefix(dep, "github.com/quantprep/quantprep/api/") &&
			dep != "github.com/quantprep/quantprep/client" && !strings.HasPrefix(dep, "github.com/quantprep/quantprep/client/") ||
			strings.HasPrefix(dep, "go.uber.org/") {
			t.Errorf("client depends on %s", dep)
		}
	}
}
