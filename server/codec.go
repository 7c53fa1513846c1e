package server

import (
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
)

// streamCodec is grpc's proto codec with one exception, the upload's hot
// path: a request received into a *pooledRequest that is a chunk keeps its
// data in one buffer of streamPool, copied once out of the transport's frames,
// where proto.Unmarshal would copy it a second time into a new slice (a fresh
// megabyte per chunk). Everything else, and any chunk whose encoding is not
// the plain one (unknown or repeated fields), goes through proto.Unmarshal,
// so the messages are the same either way.
type streamCodec struct{ proto encoding.CodecV2 }

func newStreamCodec() streamCodec { return streamCodec{proto: encoding.GetCodecV2("proto")} }

func (c streamCodec) Name() string                           { return c.proto.Name() }
func (c streamCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c streamCodec) Unmarshal(data mem.BufferSlice, v any) error {
	pr, ok := v.(*pooledRequest)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	b := streamPool.Get(data.Len())
	data.CopyTo(*b)
	if req, ok := parseChunk(*b); ok {
		pr.req, pr.buf = req, b
		return nil
	}
	pr.req, pr.buf = &quantprepv1.PreprocessRequest{}, nil
	err := proto.Unmarshal(*b, pr.req)
	streamPool.Put(b)
	return err
}

// pooledRequest is a request whose chunk data may live in a buffer of
// streamPool (buf), valid until release gives it back.
type pooledRequest struct {
	req *quantprepv1.PreprocessRequest
	buf *[]byte
}

// Validate is the request's, for the validator interceptor.
func (p *pooledRequest) Validate() error { return p.req.Validate() }

// release gives the buffer back; the request's data must no longer be used.
func (p *pooledRequest) release() {
	if p.buf != nil {
		streamPool.Put(p.buf)
		p.buf = nil
	}
}

// Field numbers of PreprocessRequest, Chunk and ExternalDataChunk.
const (
	requestModelChunk    = 2
	requestExternalChunk = 3
	chunkData            = 1
	externalLocation     = 1
	externalData         = 2
)

// parseChunk decodes b if it is a model or external data chunk encoded the
// plain way: the payload field once, and in it each field at most once, no
// unknown field, a valid UTF-8 location. The data aliases b.
func parseChunk(b []byte) (*quantprepv1.PreprocessRequest, bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || typ != protowire.BytesType || (num != requestModelChunk && num != requestExternalChunk) {
		return nil, false
	}
	body, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return nil, false
	}
	var data, loc []byte
	var haveData, haveLoc bool
	for len(body) > 0 {
		f, t, k := protowire.ConsumeTag(body)
		if k < 0 || t != protowire.BytesType {
			return nil, false
		}
		v, l := protowire.ConsumeBytes(body[k:])
		if l < 0 {
			return nil, false
		}
		body = body[k+l:]
		switch {
		case num == requestModelChunk && f == chunkData && !haveData,
			num == requestExternalChunk && f == externalData && !haveData:
			data, haveData = v, true
		case num == requestExternalChunk && f == externalLocation && !haveLoc:
			loc, haveLoc = v, true
		default:
			return nil, false
		}
	}
	if num == requestModelChunk {
		return &quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_ModelChunk{
			ModelChunk: &quantprepv1.Chunk{Data: data}}}, true
	}
	if !utf8.Valid(loc) {
		return nil, false // proto.Unmarshal says why
	}
	return &quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_ExternalDataChunk{
		ExternalDataChunk: &quantprepv1.ExternalDataChunk{Location: string(loc), Data: data}}}, true
}
