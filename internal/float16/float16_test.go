package float16

import (
	"math"
	"testing"
)

func TestFromFloat32(t *testing.T) {
	tests := []struct {
		f    float32
		want uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},                         // largest half
		{65519.99, 0x7bff},                      // rounds down to it
		{65520, 0x7c00},                         // halfway to the next: even is infinity
		{1e9, 0x7c00},                           // overflow
		{float32(math.Inf(-1)), 0xfc00},         // -inf
		{1 + 1.0/2048, 0x3c00},                  // halfway, even stays
		{1 + 3.0/2048, 0x3c02},                  // halfway, odd rounds up
		{1 + 1.0/2048 + 1.0/65536, 0x3c01},      // just above halfway
		{6.103515625e-05, 0x0400},               // smallest normal
		{6.0975552e-05, 0x03ff},                 // largest subnormal
		{5.9604645e-08, 0x0001},                 // smallest subnormal 2^-24
		{2.9802322e-08, 0x0000},                 // 2^-25: halfway to zero, even
		{4.4703484e-08, 0x0001},                 // 1.5 * 2^-25: rounds up
		{1e-10, 0x0000},                         // underflow
		{-5.9604645e-08, 0x8001},                // negative subnormal
		{float32(math.Ldexp(3, -25)), 0x0002},   // 1.5 ulp of the subnormals: halfway, rounds to even 2
		{6.1035156e-05 - 2.9802322e-08, 0x0400}, // halfway below min normal rounds up to it
	}
	for _, tc := range tests {
		if got := FromFloat32(tc.f); got != tc.want {
			t.Errorf("FromFloat32(%g) = %#04x, want %#04x", tc.f, got, tc.want)
		}
	}
	if h := FromFloat32(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("FromFloat32(NaN) = %#04x, not a NaN", h)
	}
}

// TestHalfRoundTrip: every half converts to float32 and back to itself (NaNs
// stay NaNs), and widening is exact and monotonic.
func TestHalfRoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := ToFloat32(uint16(h))
		isNaN := h&0x7c00 == 0x7c00 && h&0x3ff != 0
		if isNaN {
			if !math.IsNaN(float64(f)) {
				t.Errorf("ToFloat32(%#04x) = %g, want NaN", h, f)
			}
			continue
		}
		if back := FromFloat32(f); back != uint16(h) {
			t.Errorf("FromFloat32(ToFloat32(%#04x) = %g) = %#04x", h, f, back)
		}
		if h > 0 && h < 0x7c00 && !(ToFloat32(uint16(h-1)) < f) {
			t.Errorf("ToFloat32 not increasing at %#04x", h)
		}
	}
}

func TestBFloat16FromFloat32(t *testing.T) {
	tests := []struct {
		f    float32
		want uint16
	}{
		{0, 0x0000},
		{1, 0x3f80},
		{-2, 0xc000},
		{1 + 1.0/256, 0x3f80},             // halfway, even stays
		{1 + 3.0/256, 0x3f82},             // halfway, odd rounds up
		{1 + 1.0/256 + 1.0/65536, 0x3f81}, // above halfway
		{math.Float32frombits(0x7f7fffff), 0x7f80}, // max float rounds to inf
		{float32(math.Inf(-1)), 0xff80},            // -inf
		{math.Float32frombits(0x00000001), 0x0000}, // tiny subnormal
		{math.Float32frombits(0x00018000), 0x0002}, // subnormal halfway, odd rounds up
	}
	for _, tc := range tests {
		if got := BFloat16FromFloat32(tc.f); got != tc.want {
			t.Errorf("BFloat16FromFloat32(%g) = %#04x, want %#04x", tc.f, got, tc.want)
		}
	}
	for _, bits := range []uint32{0x7fc00000, 0x7f800001, 0xff800001, 0x7f80ffff} {
		if h := BFloat16FromFloat32(math.Float32frombits(bits)); h&0x7f80 != 0x7f80 || h&0x7f == 0 {
			t.Errorf("BFloat16FromFloat32(NaN %#08x) = %#04x, not a NaN", bits, h)
		}
	}
}
