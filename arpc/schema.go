package arpc

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// normalizeSchema returns the schema as a machine would hold it: parsed
// (self references and unknown targets dropped) and with the Exception state
// defined.
func normalizeSchema(schema am.Schema) am.Schema {
	parsed, _ := schema.Parse()
	if parsed == nil {
		parsed = am.Schema{}
	}
	if _, ok := parsed[am.StateException]; !ok {
		parsed[am.StateException] = am.State{Multi: true}
	}
	return parsed
}

// SchemaHash returns a short hash of the ordered state names and every
// state's properties and relations (Auto, Multi, Require, Add, Remove,
// After; relation lists compared as sets). Tags do not count. Clients and
// servers compare it during the handshake.
func SchemaHash(schema am.Schema, names am.S) string {
	h := sha256.New()
	for _, name := range names {
		st := schema[name]
		fmt.Fprintf(h, "%s|%t|%t|%s|%s|%s|%s\n", name, st.Auto, st.Multi,
			setString(st.Require), setString(st.Add), setString(st.Remove),
			setString(st.After))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func setString(s am.S) string {
	c := slices.Clone(s)
	slices.Sort(c)
	c = slices.Compact(c)
	return strings.Join(c, ",")
}

// compareSchemas returns nil when the client's and the worker's schemas
// match, or an ErrSchemaMismatch naming the first difference.
func compareSchemas(local am.Schema, localNames am.S, remote am.Schema,
	remoteNames am.S,
) error {
	for i := 0; i < max(len(localNames), len(remoteNames)); i++ {
		switch {
		case i >= len(localNames):
			return fmt.Errorf("%w: worker has extra state %q at index %d",
				ErrSchemaMismatch, remoteNames[i], i)
		case i >= len(remoteNames):
			return fmt.Errorf("%w: client has extra state %q at index %d",
				ErrSchemaMismatch, localNames[i], i)
		case localNames[i] != remoteNames[i]:
			return fmt.Errorf("%w: state %d is %q on the client, %q on the worker",
				ErrSchemaMismatch, i, localNames[i], remoteNames[i])
		}
	}
	if remote == nil {
		return nil
	}
	for _, name := range localNames {
		l, r := local[name], remote[name]
		diffs := []struct {
			what string
			l, r string
		}{
			{"auto", fmt.Sprint(l.Auto), fmt.Sprint(r.Auto)},
			{"multi", fmt.Sprint(l.Multi), fmt.Sprint(r.Multi)},
			{"require", setString(l.Require), setString(r.Require)},
			{"add", setString(l.Add), setString(r.Add)},
			{"remove", setString(l.Remove), setString(r.Remove)},
			{"after", setString(l.After), setString(r.After)},
		}
		for _, d := range diffs {
			if d.l != d.r {
				return fmt.Errorf("%w: state %q %s is [%s] on the client, [%s] on "+
					"the worker", ErrSchemaMismatch, name, d.what, d.l, d.r)
			}
		}
	}
	return nil
}
