package xapi

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Conversions from the generic tree DecodeResponse returns into Go types.
// xapi sends ints as untyped decimal strings and empty strings as empty
// values, so every converter accepts the string form.

func scalarString(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case time.Time:
		return t.UTC().Format("20060102T15:04:05Z")
	}
	return fmt.Sprint(v)
}

func asString(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	case int64, float64, bool:
		return fmt.Sprint(t), nil
	}
	return "", fmt.Errorf("expected a string, got %s", kindOf(v))
}

func asInt(v any) (int64, error) {
	switch t := v.(type) {
	case int64:
		return t, nil
	case string:
		if t == "" {
			return 0, nil
		}
		i, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("expected an integer, got %q", excerpt(t, 40))
		}
		return i, nil
	case nil:
		return 0, nil
	case float64:
		if t == float64(int64(t)) {
			return int64(t), nil
		}
	}
	return 0, fmt.Errorf("expected an integer, got %s", kindOf(v))
}

func asBool(v any) (bool, error) {
	switch t := v.(type) {
	case bool:
		return t, nil
	case nil:
		return false, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "1", "true":
			return true, nil
		case "0", "false", "":
			return false, nil
		}
	}
	return false, fmt.Errorf("expected a boolean, got %s", kindOf(v))
}

func asFloat(v any) (float64, error) {
	switch t := v.(type) {
	case float64:
		return t, nil
	case int64:
		return float64(t), nil
	case nil:
		return 0, nil
	case string:
		if t == "" {
			return 0, nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		if err != nil {
			return 0, fmt.Errorf("expected a number, got %q", excerpt(t, 40))
		}
		return f, nil
	}
	return 0, fmt.Errorf("expected a number, got %s", kindOf(v))
}

// timeLayouts are xapi's datetime forms: YYYYMMDDTHH:MM:SS with Z, an
// offset, or no zone (then UTC), plus the dashed ISO form.
var timeLayouts = []string{
	"20060102T15:04:05Z07:00", "20060102T15:04:05", "20060102T15:04:05Z0700",
	"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05",
}

// ParseTime parses a datetime as xapi writes it.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("expected a datetime, got %q", excerpt(s, 40))
}

func asTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case nil:
		return time.Time{}, nil
	case string:
		if t == "" {
			return time.Time{}, nil
		}
		return ParseTime(t)
	}
	return time.Time{}, fmt.Errorf("expected a datetime, got %s", kindOf(v))
}

func asArray(v any) ([]any, error) {
	switch t := v.(type) {
	case []any:
		return t, nil
	case nil:
		return nil, nil
	case string:
		if t == "" {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("expected an array, got %s", kindOf(v))
}

func asStruct(v any) (map[string]any, error) {
	switch t := v.(type) {
	case map[string]any:
		return t, nil
	case nil:
		return map[string]any{}, nil
	case string:
		if t == "" {
			return map[string]any{}, nil
		}
	}
	return nil, fmt.Errorf("expected a struct, got %s", kindOf(v))
}

var timeType = reflect.TypeOf(time.Time{})

// decodeInto stores the generic value v into *out, driven by out's type.
// Struct fields are matched by their `xapi:"wire_name"` tag; wire members
// without a field are ignored, fields without a member keep their zero value.
func decodeInto(v any, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("decode: need a non-nil pointer, got %T", out)
	}
	return decodeValue(v, rv.Elem())
}

func decodeValue(v any, dst reflect.Value) error {
	t := dst.Type()
	if t == timeType {
		tm, err := asTime(v)
		if err != nil {
			return err
		}
		dst.Set(reflect.ValueOf(tm))
		return nil
	}
	switch t.Kind() {
	case reflect.Interface:
		if v != nil {
			dst.Set(reflect.ValueOf(v))
		}
		return nil
	case reflect.String:
		s, err := asString(v)
		if err != nil {
			return err
		}
		dst.SetString(s)
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, err := asInt(v)
		if err != nil {
			return err
		}
		dst.SetInt(i)
	case reflect.Bool:
		b, err := asBool(v)
		if err != nil {
			return err
		}
		dst.SetBool(b)
	case reflect.Float64, reflect.Float32:
		f, err := asFloat(v)
		if err != nil {
			return err
		}
		dst.SetFloat(f)
	case reflect.Slice:
		arr, err := asArray(v)
		if err != nil {
			return err
		}
		s := reflect.MakeSlice(t, len(arr), len(arr))
		for i, x := range arr {
			if err := decodeValue(x, s.Index(i)); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		dst.Set(s)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("decode: unsupported map key %s", t.Key())
		}
		m, err := asStruct(v)
		if err != nil {
			return err
		}
		mv := reflect.MakeMapWithSize(t, len(m))
		for k, x := range m {
			ev := reflect.New(t.Elem()).Elem()
			if err := decodeValue(x, ev); err != nil {
				return fmt.Errorf("[%q]: %w", excerpt(k, 60), err)
			}
			mv.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		dst.Set(mv)
	case reflect.Struct:
		m, err := asStruct(v)
		if err != nil {
			return err
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("xapi")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			x, ok := m[name]
			if !ok {
				continue
			}
			if err := decodeValue(x, dst.Field(i)); err != nil {
				return fmt.Errorf("field %s: %w", name, err)
			}
		}
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := decodeValue(v, p.Elem()); err != nil {
			return err
		}
		dst.Set(p)
	default:
		return fmt.Errorf("decode: unsupported type %s", t)
	}
	return nil
}
