package onnxtext

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind classifies a token of the textual syntax.
type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokInt
	tokFloat
	tokString
	tokPunct    // one of ( ) [ ] { } < > , = : @ ? .
	tokArrow    // =>
	tokEllipsis // ... (print-only elision marker)
)

// token is one lexeme with its position (1-based line and column, column in bytes).
type token struct {
	kind tokKind
	text string // identifier, punctuation, or the literal's source text
	str  string // decoded value of a string literal
	line int
	col  int
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of input"
	case tokIdent:
		return fmt.Sprintf("identifier %q", t.text)
	case tokInt:
		return fmt.Sprintf("integer %s", t.text)
	case tokFloat:
		return fmt.Sprintf("number %s", t.text)
	case tokString:
		return fmt.Sprintf("string %s", t.text)
	case tokEllipsis:
		return "elision marker ..."
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

// Error is a syntax or semantic error at a position of the source text.
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("onnxtext: %d:%d: %s", e.Line, e.Col, e.Msg) }

// lex splits src into tokens. Comments run from '#' to the end of the line.
func lex(src string) ([]token, error) {
	var toks []token
	line, col := 1, 1
	i := 0
	advance := func(n int) {
		for k := 0; k < n && i < len(src); k++ {
			if src[i] == '\n' {
				line++
				col = 1
			} else {
				col++
			}
			i++
		}
	}
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			advance(1)
			continue
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				advance(1)
			}
			continue
		}
		start := token{line: line, col: col}
		switch {
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			start.kind, start.text = tokIdent, src[i:j]
			advance(j - i)
		case isDigit(c) || ((c == '-' || c == '+' || c == '.') && i+1 < len(src) && (isDigit(src[i+1]) || (c != '.' && src[i+1] == '.' && i+2 < len(src) && isDigit(src[i+2])))):
			j, isFloat := scanNumber(src, i)
			start.kind, start.text = tokInt, src[i:j]
			if isFloat {
				start.kind = tokFloat
			}
			advance(j - i)
		case (c == '-' || c == '+') && strings.HasPrefix(src[i+1:], "inf") && (i+4 >= len(src) || !isIdentChar(src[i+4])):
			start.kind, start.text = tokFloat, src[i:i+4]
			advance(4)
		case c == '"':
			s, n, err := scanString(src[i:])
			if err != nil {
				return nil, &Error{Line: line, Col: col, Msg: err.Error()}
			}
			start.kind, start.text, start.str = tokString, src[i:i+n], s
			advance(n)
		case c == '=' && i+1 < len(src) && src[i+1] == '>':
			start.kind, start.text = tokArrow, "=>"
			advance(2)
		case c == '.' && strings.HasPrefix(src[i:], "..."):
			start.kind, start.text = tokEllipsis, "..."
			advance(3)
		case strings.IndexByte("()[]{}<>,=:@?.", c) >= 0:
			start.kind, start.text = tokPunct, src[i:i+1]
			advance(1)
		default:
			r, _ := utf8.DecodeRuneInString(src[i:])
			return nil, &Error{Line: line, Col: col, Msg: fmt.Sprintf("unexpected character %q", r)}
		}
		toks = append(toks, start)
	}
	toks = append(toks, token{kind: tokEOF, line: line, col: col})
	return toks, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber scans [+-]digits[.digits][e[+-]digits] from src[i:] and reports
// whether the literal is a floating-point one.
func scanNumber(src string, i int) (int, bool) {
	j := i
	if src[j] == '-' || src[j] == '+' {
		j++
	}
	isFloat := false
	for j < len(src) && isDigit(src[j]) {
		j++
	}
	if j < len(src) && src[j] == '.' && !strings.HasPrefix(src[j:], "...") {
		isFloat = true
		j++
		for j < len(src) && isDigit(src[j]) {
			j++
		}
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < len(src) && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < len(src) && isDigit(src[k]) {
			for k < len(src) && isDigit(src[k]) {
				k++
			}
			j, isFloat = k, true
		}
	}
	return j, isFloat
}

// scanString decodes a double-quoted string at the start of s and returns its
// value and source length. Escapes: \\ \" \n \t \r \xHH.
func scanString(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			return b.String(), i + 1, nil
		case '\n':
			return "", 0, fmt.Errorf("newline in string literal")
		case '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("unterminated string literal")
			}
			i++
			switch s[i] {
			case '\\', '"':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'x':
				if i+2 >= len(s) {
					return "", 0, fmt.Errorf("bad \\x escape in string literal")
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return "", 0, fmt.Errorf("bad \\x escape in string literal")
				}
				b.WriteByte(byte(v))
				i += 2
			default:
				return "", 0, fmt.Errorf("unknown escape \\%c in string literal", s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated string literal")
}

// quote renders s as a string literal that scanString decodes back to s.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
			i++
		case c == '\n':
			b.WriteString(`\n`)
			i++
		case c == '\t':
			b.WriteString(`\t`)
			i++
		case c == '\r':
			b.WriteString(`\r`)
			i++
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
			i++
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				fmt.Fprintf(&b, `\x%02x`, c)
			} else {
				b.WriteString(s[i : i+n])
			}
			i += n
		}
	}
	b.WriteByte('"')
	return b.String()
}
