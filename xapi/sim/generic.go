package sim

import (
	"fmt"
	"strings"
)

// This file implements the messages xapi generates for every class: get_record, get_all,
// get_all_records, get_all_records_where, get_by_uuid, get_by_name_label, get_<field>, and the setters
// set_<field>, add_to_<field>/remove_from_<field> (maps) and add_<field>/remove_<field>
// (sets) that the datamodel declares.

// dbFor returns the database a generic message on class reads. Tasks always live in the
// master's real database: clients wait on tasks of Async calls made with a foreign session
// using their real session.
func (c *call) dbFor(class string) *DB {
	if class == "task" {
		return c.pool.db
	}
	return c.db
}

func genericHandler(cls *classDef, msg *messageDef) handler {
	class := cls.Name
	name := msg.Name
	switch name {
	case "get_record":
		return func(c *call) any { return render(c.objIn(1, class)) }
	case "get_all":
		return func(c *call) any {
			out := []string{}
			for _, o := range c.dbFor(class).All(class) {
				out = append(out, o.ref)
			}
			return out
		}
	case "get_all_records":
		return func(c *call) any {
			out := Struct{}
			for _, o := range c.dbFor(class).All(class) {
				out = append(out, Member{Name: o.ref, Value: render(o)})
			}
			return out
		}
	case "get_all_records_where":
		return func(c *call) any {
			expr := c.str(1)
			f, err := parseFilter(expr)
			if err != nil {
				c.fail("INTERNAL_ERROR", fmt.Sprintf("Db_filter.Expression_error(%q, %v)", expr, err))
			}
			out := Struct{}
			for _, o := range c.dbFor(class).All(class) {
				if f.eval(o) {
					out = append(out, Member{Name: o.ref, Value: render(o)})
				}
			}
			return out
		}
	case "get_by_uuid":
		return func(c *call) any {
			u := c.str(1)
			o := c.dbFor(class).ByUUID(class, u)
			if o == nil {
				c.fail("UUID_INVALID", class, u)
			}
			return o.ref
		}
	case "get_by_name_label":
		if _, ok := cls.Index["name_label"]; !ok {
			return nil
		}
		return func(c *call) any {
			l := c.str(1)
			out := []string{}
			for _, o := range c.dbFor(class).All(class) {
				if o.S("name_label") == l {
					out = append(out, o.ref)
				}
			}
			return out
		}
	}
	if f, ok := strings.CutPrefix(name, "get_"); ok {
		if i, ok := cls.Index[f]; ok && len(msg.Params) == 2 {
			fd := cls.Fields[i]
			return func(c *call) any { return wireField(fd, c.objIn(1, class).get(f)) }
		}
		return nil
	}
	if f, ok := strings.CutPrefix(name, "set_"); ok {
		if i, ok := cls.Index[f]; ok && len(msg.Params) == 3 {
			fd := cls.Fields[i]
			return func(c *call) any {
				o := c.objIn(1, class)
				c.dbFor(class).Set(class, o.ref, f, c.valueOf(2, fd))
				return nil
			}
		}
		return nil
	}
	if f, ok := strings.CutPrefix(name, "add_to_"); ok {
		if i, ok := cls.Index[f]; ok && cls.Fields[i].Kind == kMap {
			return func(c *call) any {
				o := c.objIn(1, class)
				k, v := c.str(2), c.str(3)
				m := o.Map(f)
				if _, exists := m[k]; exists {
					c.fail("MAP_DUPLICATE_KEY", class, f, o.ref, k)
				}
				n := copyMap(m)
				n[k] = v
				c.dbFor(class).Set(class, o.ref, f, n)
				return nil
			}
		}
		return nil
	}
	if f, ok := strings.CutPrefix(name, "remove_from_"); ok {
		if i, ok := cls.Index[f]; ok && cls.Fields[i].Kind == kMap {
			return func(c *call) any {
				o := c.objIn(1, class)
				n := copyMap(o.Map(f))
				delete(n, c.str(2))
				c.dbFor(class).Set(class, o.ref, f, n)
				return nil
			}
		}
		return nil
	}
	for _, p := range []string{"add_", "remove_"} {
		if f, ok := strings.CutPrefix(name, p); ok {
			if i, ok := cls.Index[f]; ok && cls.Fields[i].Kind == kSet && len(msg.Params) == 3 {
				add := p == "add_"
				return func(c *call) any {
					o := c.objIn(1, class)
					v := c.str(2)
					var n []string
					found := false
					for _, x := range o.Refs(f) {
						if x == v {
							found = true
							if !add {
								continue
							}
						}
						n = append(n, x)
					}
					if add && !found {
						n = append(n, v)
					}
					if n == nil {
						n = []string{}
					}
					c.dbFor(class).Set(class, o.ref, f, n)
					return nil
				}
			}
		}
	}
	return nil
}

// objIn resolves a ref parameter in the database that holds the class.
func (c *call) objIn(i int, class string) *object {
	ref := c.str(i)
	o := c.dbFor(class).Get(class, ref)
	if o == nil {
		c.fail("HANDLE_INVALID", class, ref)
	}
	return o
}

// valueOf converts a setter's parameter to the stored shape of the field.
func (c *call) valueOf(i int, fd fieldDef) any {
	switch fd.Kind {
	case kInt:
		return c.int(i)
	case kBool:
		return c.boolean(i)
	case kFloat:
		return c.float(i)
	case kMap:
		return c.strMap(i)
	case kSet:
		return c.strSet(i)
	case kDateTime:
		switch v := c.params[i].(type) {
		case string:
			t, err := parseDateTime(v)
			if err != nil {
				c.fail("FIELD_TYPE_ERROR", c.paramName(i))
			}
			return t
		default:
			return v
		}
	}
	return c.str(i)
}

func copyMap(m map[string]string) map[string]string {
	n := make(map[string]string, len(m)+1)
	for k, v := range m {
		n[k] = v
	}
	return n
}
