package server

import (
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
)

// TestStreamCodec checks that a request decoded by streamCodec into a
// pooledRequest equals what proto.Unmarshal gives (or fails as it does) for
// every encoding: the plain chunks it decodes itself, and the others it hands
// to proto (repeated or unknown fields, other payloads, bad UTF-8).
func TestStreamCodec(t *testing.T) {
	marshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	field := func(num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	data := []byte("weights\x00\x01\x02")
	for _, c := range []struct {
		name   string
		wire   []byte
		pooled bool // decoded in place, the data in the pool's buffer
	}{
		{"model chunk", marshal(&quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_ModelChunk{ModelChunk: &quantprepv1.Chunk{Data: data}}}), true},
		{"empty model chunk", field(requestModelChunk, nil), true},
		{"external chunk", marshal(&quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_ExternalDataChunk{ExternalDataChunk: &quantprepv1.ExternalDataChunk{Location: "w.bin", Data: data}}}), true},
		{"external chunk, data first", field(requestExternalChunk, cat(field(externalData, data), field(externalLocation, []byte("w.bin")))), true},
		{"options", marshal(&quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_Options{Options: &quantprepv1.Options{ModelName: "m.onnx"}}}), false},
		{"data twice", field(requestModelChunk, cat(field(chunkData, []byte("a")), field(chunkData, data))), false},
		{"payload twice", cat(field(requestModelChunk, field(chunkData, []byte("a"))), field(requestExternalChunk, field(externalData, data))), false},
		{"unknown field in chunk", field(requestModelChunk, cat(field(chunkData, data), field(9, []byte("x")))), false},
		{"varint in chunk", field(requestModelChunk, protowire.AppendVarint(protowire.AppendTag(nil, 5, protowire.VarintType), 1)), false},
		{"bad UTF-8 location", field(requestExternalChunk, cat(field(externalLocation, []byte{0xff, 'a'}), field(externalData, data))), false},
		{"truncated", field(requestModelChunk, field(chunkData, data))[:6], false},
		{"empty message", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := &quantprepv1.PreprocessRequest{}
			wantErr := proto.Unmarshal(c.wire, want)
			var pr pooledRequest
			err := newStreamCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(c.wire)}, &pr)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, proto.Unmarshal's %v", err, wantErr)
			}
			if err != nil {
				return
			}
			if !proto.Equal(pr.req, want) {
				t.Errorf("decoded %v, want %v", pr.req, want)
			}
			if (pr.buf != nil) != c.pooled {
				t.Errorf("decoded in the pool's buffer: %v, want %v", pr.buf != nil, c.pooled)
			}
			pr.release()
			if pr.buf != nil {
				t.Error("release kept the buffer")
			}
		})
	}
	// Other messages go to proto untouched.
	var resp quantprepv1.PreprocessResponse
	in := &quantprepv1.PreprocessResponse{Payload: &quantprepv1.PreprocessResponse_ModelChunk{ModelChunk: &quantprepv1.Chunk{Data: data}}}
	if err := newStreamCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(marshal(in))}, &resp); err != nil || !proto.Equal(&resp, in) {
		t.Errorf("a response decoded as %v, %v", &resp, err)
	}
}
