package store

import (
	"database/sql"
	"fmt"
)

// valuesRow replays one wide row's driver values into a scan function
// written for a narrower row, with the conversions database/sql applies.
// It lets one query feed several scanners (scanUser, scanPractice, …) where
// a hot path would otherwise run one query each.
type valuesRow []any

// Scan assigns the values to dest, in order.
func (v valuesRow) Scan(dest ...any) error {
	if len(dest) != len(v) {
		return fmt.Errorf("store: %d values for %d destinations", len(v), len(dest))
	}
	for i, d := range dest {
		if err := assignValue(d, v[i]); err != nil {
			return fmt.Errorf("store: column %d: %w", i, err)
		}
	}
	return nil
}

// assignValue converts through database/sql's own Null types, so the rules
// (numbers from text, booleans from integers, …) are the same as Rows.Scan.
// A NULL becomes the zero value.
func assignValue(dest, v any) error {
	switch d := dest.(type) {
	case sql.Scanner:
		return d.Scan(v)
	case *string:
		var n sql.NullString
		err := n.Scan(v)
		*d = n.String
		return err
	case *int64:
		var n sql.NullInt64
		err := n.Scan(v)
		*d = n.Int64
		return err
	case *int:
		var n sql.NullInt64
		err := n.Scan(v)
		*d = int(n.Int64)
		return err
	case *bool:
		var n sql.NullBool
		err := n.Scan(v)
		*d = n.Bool
		return err
	case *float64:
		var n sql.NullFloat64
		err := n.Scan(v)
		*d = n.Float64
		return err
	case *[]byte:
		switch b := v.(type) {
		case nil:
			*d = nil
		case []byte:
			*d = append([]byte(nil), b...)
		case string:
			*d = []byte(b)
		default:
			return fmt.Errorf("cannot assign %T to []byte", v)
		}
		return nil
	case *any:
		*d = v
		return nil
	}
	return fmt.Errorf("unsupported destination %T", dest)
}

// scanValues reads one row of n columns as driver values.
func scanValues(rows *sql.Rows, n int) (valuesRow, error) {
	v := make(valuesRow, n)
	ptrs := make([]any, n)
	for i := range v {
		ptrs[i] = &v[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	// Text and blobs may point into the driver's buffer: copy them before
	// the next row.
	for i, x := range v {
		if b, ok := x.([]byte); ok {
			v[i] = append([]byte(nil), b...)
		}
	}
	return v, nil
}
