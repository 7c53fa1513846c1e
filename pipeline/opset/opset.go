// Package opset is the operator registry that shape inference (infer) and
// constant folding (eval) both use: rows keyed by (domain, operator,
// since-version), one duplicate check and one lookup rule, so that the two
// cannot disagree on which rule holds for a node.
//
// A row is either a rule, valid from its Since version up to the next rule
// row, or an "unchanged since" marker: ONNX changed the operator's schema at
// that version (new types, a new attribute the rule does not read, ...), and
// the rule of the row before still holds, for the reason the marker gives.
// Markers make every schema version of a registered operator visible in the
// table, so that the coverage tests (which compare the rows with ONNX's schema
// history) catch a new version nobody looked at.
package opset

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/quantprep/quantprep/pipeline/model"
)

// Row is one registry row: the rule of Domain.Name from version Since on, or,
// with Unchanged set, a marker saying why the rule before still holds at Since.
type Row[F any] struct {
	// Domain is "" (or "ai.onnx") for the default domain.
	Domain string
	Name   string
	Since  int64
	// Rule is the row's rule; nil in a marker.
	Rule F
	// Unchanged, on a marker row, says why the previous rule holds at Since.
	Unchanged string
}

// Same returns "unchanged since" markers for domain.name at each version of
// since, all for the same reason.
func Same[F any](domain, name, reason string, since ...int64) []Row[F] {
	out := make([]Row[F], len(since))
	for i, v := range since {
		out[i] = Row[F]{Domain: domain, Name: name, Since: v, Unchanged: reason}
	}
	return out
}

// Forms returns one rule row of domain.name per version of since, the rule
// of each made by bind from the row's version: where an operator's form
// changes (an attribute becomes an input, ...), the row split picks the form
// a rule sees, not the node's opset.
func Forms[F any](domain, name string, bind func(form int64) F, since ...int64) []Row[F] {
	out := make([]Row[F], len(since))
	for i, v := range since {
		out[i] = Row[F]{Domain: domain, Name: name, Since: v, Rule: bind(v)}
	}
	return out
}

// Key names one operator: its normalized domain ("" for the default one) and
// its name.
type Key struct{ Domain, Name string }

func (k Key) String() string {
	if k.Domain == "" {
		return k.Name
	}
	return k.Domain + "." + k.Name
}

// Registry holds the rows of every operator, sorted by Since.
type Registry[F any] struct {
	rows map[Key][]Row[F] // oldest first
}

// New builds a registry from families of rows. It fails on a row without a
// name or with a Since below 1, on a rule row without a rule or a marker
// with one, on a marker without a reason or without a rule row before it,
// and on two rows with the same (domain, name, since): two rules for one
// version would make the lookup depend on the order of the families.
func New[F any](families ...[]Row[F]) (*Registry[F], error) {
	r := &Registry[F]{rows: map[Key][]Row[F]{}}
	for _, fam := range families {
		for _, row := range fam {
			row.Domain = model.NormDomain(row.Domain)
			k := Key{row.Domain, row.Name}
			hasRule := !isNil(row.Rule)
			switch {
			case row.Name == "" || row.Since < 1:
				return nil, fmt.Errorf("row %q since %d: no name or a version below 1", k, row.Since)
			case row.Unchanged == "" && !hasRule:
				return nil, fmt.Errorf("%s since %d: a rule row without a rule", k, row.Since)
			case row.Unchanged != "" && hasRule:
				return nil, fmt.Errorf("%s since %d: an unchanged-since marker with a rule", k, row.Since)
			}
			for _, o := range r.rows[k] {
				if o.Since == row.Since {
					return nil, fmt.Errorf("%s since %d registered twice", k, row.Since)
				}
			}
			r.rows[k] = append(r.rows[k], row)
		}
	}
	for k, rows := range r.rows {
		sort.Slice(rows, func(i, j int) bool { return rows[i].Since < rows[j].Since })
		if rows[0].Unchanged != "" {
			return nil, fmt.Errorf("%s since %d: an unchanged-since marker with no rule before it", k, rows[0].Since)
		}
	}
	return r, nil
}

// MustNew is New for package-level registries: a malformed table is a bug
// that every test run would hit at once.
func MustNew[F any](families ...[]Row[F]) *Registry[F] {
	r, err := New(families...)
	if err != nil {
		panic("opset: " + err.Error())
	}
	return r
}

// Lookup returns the rule row that holds for domain.name at version: the row
// with the largest Since at most version, or, where that is a marker, the
// rule row before it. A version below 1 means the model does not import the
// domain; it is read as model.OpsetVersion reads it (the newest version).
func (r *Registry[F]) Lookup(domain, name string, version int64) (Row[F], bool) {
	domain = model.NormDomain(domain)
	version = model.OpsetVersion(domain, version)
	rows := r.rows[Key{domain, name}]
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].Since <= version && rows[i].Unchanged == "" {
			return rows[i], true
		}
	}
	var zero Row[F]
	return zero, false
}

// Ops lists the registered operators, sorted by domain and name.
func (r *Registry[F]) Ops() []Key {
	keys := make([]Key, 0, len(r.rows))
	for k := range r.rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Domain != keys[j].Domain {
			return keys[i].Domain < keys[j].Domain
		}
		return keys[i].Name < keys[j].Name
	})
	return keys
}

// Rows returns the rows of one operator, rule rows and markers, oldest first.
func (r *Registry[F]) Rows(k Key) []Row[F] {
	return append([]Row[F](nil), r.rows[Key{model.NormDomain(k.Domain), k.Name}]...)
}

// isNil reports whether a rule is missing: F is a func type in practice.
func isNil(f any) bool {
	if f == nil {
		return true
	}
	v := reflect.ValueOf(f)
	switch v.Kind() {
	case reflect.Func, reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// Join concatenates lists of rows: a family's table written as rule rows,
// per-version rows and markers.
func Join[F any](lists ...[]Row[F]) []Row[F] {
	var out []Row[F]
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
