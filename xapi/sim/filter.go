package sim

import (
	"fmt"
	"strconv"
	"strings"
)

// This file is the expression language of <class>.get_all_records_where, as
// xapi's database filter has it (ocaml/database/db_filter*.ml{,l,y}):
//
//	expr  := value "=" value | expr "and" expr | expr "or" expr
//	       | "not" expr | "true" | "false" | "(" expr ")"
//	value := "field" STRING | STRING
//
// STRING is double-quoted, without escapes. "and" and "or" bind alike, from
// the left; "not" binds loosest (its grammar declares it first), so it
// takes the whole chain after it: not a and b is not (a and b). A field is named as in the database, where
// a namespaced field's dot is "__" (name__label); it compares as the string
// the database holds, so refs as refs, enums as their names, booleans as
// true/false and numbers in decimal.

type filterExpr interface {
	eval(o *object) bool
}

type (
	filterConst bool
	filterNot   struct{ x filterExpr }
	filterAnd   struct{ a, b filterExpr }
	filterOr    struct{ a, b filterExpr }
	filterEq    struct{ a, b filterValue }
)

// filterValue is a field (by database name) or a literal.
type filterValue struct {
	field bool
	s     string
}

func (c filterConst) eval(*object) bool { return bool(c) }
func (n filterNot) eval(o *object) bool { return !n.x.eval(o) }
func (e filterAnd) eval(o *object) bool { return e.a.eval(o) && e.b.eval(o) }
func (e filterOr) eval(o *object) bool  { return e.a.eval(o) || e.b.eval(o) }
func (e filterEq) eval(o *object) bool  { return e.a.of(o) == e.b.of(o) }
func (v filterValue) of(o *object) string {
	if !v.field {
		return v.s
	}
	return dbString(o.get(strings.ReplaceAll(v.s, "__", "_")))
}

// dbString is a scalar field as the database stores it. Sets and maps are
// stored by xapi as S-expressions; they are written here in Go's notation,
// which no filter of lifeboat compares (see README).
func dbString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// parseFilter parses expr; xapi raises Db_filter.Expression_error on a
// malformed one, which reaches the client as an INTERNAL_ERROR.
func parseFilter(expr string) (filterExpr, error) {
	toks, err := lexFilter(expr)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.i].s)
	}
	return e, nil
}

type filterToken struct {
	kind string // "str", or the keyword or symbol itself
	s    string
}

func lexFilter(s string) ([]filterToken, error) {
	var out []filterToken
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '=' || c == '(' || c == ')':
			out = append(out, filterToken{kind: string(c), s: string(c)})
			i++
		case c == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			out = append(out, filterToken{kind: "str", s: s[i+1 : i+1+end]})
			i += end + 2
		default:
			kw := ""
			for _, k := range []string{"true", "false", "field", "and", "or", "not"} {
				if strings.HasPrefix(s[i:], k) {
					kw = k
					break
				}
			}
			if kw == "" {
				return nil, fmt.Errorf("unexpected %q at %d", s[i], i)
			}
			out = append(out, filterToken{kind: kw, s: kw})
			i += len(kw)
		}
	}
	return out, nil
}

type filterParser struct {
	toks []filterToken
	i    int
}

func (p *filterParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i].kind
	}
	return ""
}

// expr is a chain of unary expressions joined by and/or, from the left.
func (p *filterParser) expr() (filterExpr, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		switch p.peek() {
		case "and", "or":
			op := p.toks[p.i].kind
			p.i++
			right, err := p.unary()
			if err != nil {
				return nil, err
			}
			if op == "and" {
				left = filterAnd{left, right}
			} else {
				left = filterOr{left, right}
			}
		default:
			return left, nil
		}
	}
}

func (p *filterParser) unary() (filterExpr, error) {
	switch p.peek() {
	case "not":
		p.i++
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		return filterNot{x}, nil
	case "true", "false":
		p.i++
		return filterConst(p.toks[p.i-1].kind == "true"), nil
	case "(":
		p.i++
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.i++
		return x, nil
	}
	a, err := p.value()
	if err != nil {
		return nil, err
	}
	if p.peek() != "=" {
		return nil, fmt.Errorf("expected = after a value")
	}
	p.i++
	b, err := p.value()
	if err != nil {
		return nil, err
	}
	return filterEq{a, b}, nil
}

func (p *filterParser) value() (filterValue, error) {
	field := p.peek() == "field"
	if field {
		p.i++
	}
	if p.peek() != "str" {
		return filterValue{}, fmt.Errorf("expected a string")
	}
	p.i++
	return filterValue{field: field, s: p.toks[p.i-1].s}, nil
}
