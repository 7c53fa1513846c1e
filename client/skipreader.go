package client

import (
	"bufio"
	"io"
)

// SkipReader is a buffered reader for scanning a model's wire format whose
// Discard seeks past what is not buffered when its source can seek (a file),
// so that skipping a weight costs a seek instead of reading it through the
// buffer: scanning an inline model for its structure then reads a few
// megabytes, not the whole file. Discarding past the end of the source fails
// with io.EOF, as bufio.Reader's does.
type SkipReader struct {
	*bufio.Reader
	src    *countingReader
	seeker io.Seeker
	end    int64 // the source's size, where seeker is set
}

// countingReader counts the bytes read from r, the source's position.
type countingReader struct {
	r   io.Reader
	pos int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.pos += int64(n)
	return n, err
}

// NewSkipReader reads r through a buffer of size bytes. It seeks only where r
// is an io.Seeker that reports its position and size (a pipe does not).
func NewSkipReader(r io.Reader, size int) *SkipReader {
	s := &SkipReader{src: &countingReader{r: r}}
	if sk, ok := r.(io.Seeker); ok {
		cur, err := sk.Seek(0, io.SeekCurrent)
		if err == nil {
			end, err1 := sk.Seek(0, io.SeekEnd)
			_, err2 := sk.Seek(cur, io.SeekStart)
			if err1 == nil && err2 == nil {
				s.seeker, s.src.pos, s.end = sk, cur, end
			}
		}
	}
	s.Reader = bufio.NewReaderSize(s.src, size)
	return s
}

// Discard skips the next n bytes and returns how many it skipped.
func (s *SkipReader) Discard(n int) (int, error) {
	buffered := s.Buffered()
	rest := int64(n - buffered)
	if s.seeker == nil || rest <= int64(s.Size()) {
		return s.Reader.Discard(n)
	}
	s.Reader.Discard(buffered) // cannot fail: the bytes are buffered
	if left := s.end - s.src.pos; rest > left {
		if _, err := s.seeker.Seek(0, io.SeekEnd); err != nil {
			return buffered, err
		}
		s.src.pos = s.end
		s.Reset(s.src)
		return buffered + int(max(left, 0)), io.EOF
	}
	if _, err := s.seeker.Seek(rest, io.SeekCurrent); err != nil {
		return buffered, err
	}
	s.src.pos += rest
	s.Reset(s.src)
	return n, nil
}
