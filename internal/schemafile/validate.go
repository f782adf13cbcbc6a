package schemafile

import (
	"slices"
	"strings"
	"unicode"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

var (
	rootFields  = []string{"id", "states"}
	stateFields = []string{
		"name", "auto", "multi", "require", "add", "remove", "after", "tags",
	}
	// relationFields are checked in this order.
	relationFields = []string{"require", "add", "remove", "after"}
)

// builder turns a value tree into a [Def], enforcing the format's rules.
type builder struct {
	known map[string]bool
	// defined maps each state name to where it is defined.
	defined map[string]pos
}

// build validates root and returns the definition it describes.
func build(root *value, opts Options) (*Def, error) {
	if root.kind != kindMap {
		return nil, errorf(root.pos, "", ErrInvalid,
			"the top level must be a mapping with a states list, not %s",
			root.kind)
	}
	if err := checkFields(root, rootFields, ""); err != nil {
		return nil, err
	}

	def := &Def{Schema: am.Schema{}}
	if f := root.lookup("id"); f != nil {
		switch f.val.kind {
		case kindNull:
		case kindString:
			def.ID = f.val.str
		default:
			return nil, errorf(f.val.pos, "", ErrInvalid,
				"id must be a string, not %s", f.val.kind)
		}
	}

	sf := root.lookup("states")
	if sf == nil {
		return nil, errorf(root.pos, "", ErrInvalid,
			"missing field \"states\"")
	}
	states := sf.val
	switch {
	case states.kind == kindNull || (states.kind == kindSeq &&
		len(states.items) == 0):
		return nil, errorf(sf.keyPos, "", ErrInvalid,
			"states must list at least one state")
	case states.kind != kindSeq:
		return nil, errorf(states.pos, "", ErrInvalid,
			"states must be a list, not %s", states.kind)
	}

	b := &builder{
		known:   map[string]bool{am.StateException: true},
		defined: map[string]pos{},
	}
	for _, name := range opts.External {
		b.known[name] = true
	}

	// names first, so relations may name states defined further down
	for i, item := range states.items {
		name, err := b.declare(i, item)
		if err != nil {
			return nil, err
		}
		def.Names = append(def.Names, name)
	}
	for i, item := range states.items {
		name := def.Names[i]
		state, err := b.state(name, item)
		if err != nil {
			return nil, err
		}
		def.Schema[name] = state
	}

	return def, nil
}

// declare checks the i-th state's shape and name and records the name.
func (b *builder) declare(i int, item *value) (string, error) {
	if item.kind != kindMap {
		return "", errorf(item.pos, "", ErrInvalid,
			"states[%d] must be a mapping, not %s", i, item.kind)
	}
	nf := item.lookup("name")
	if nf == nil {
		return "", errorf(item.pos, "", ErrInvalid,
			"states[%d]: missing field \"name\"", i)
	}
	nv := nf.val
	if nv.kind != kindString {
		return "", errorf(nv.pos, "", ErrInvalid,
			"states[%d]: name must be a string, not %s", i, nv.kind)
	}
	name := nv.str
	if name == "" {
		return "", errorf(nv.pos, "", ErrInvalid, "states[%d]: empty name", i)
	}
	if !isIdent(name) {
		return "", errorf(nv.pos, "", ErrInvalid,
			"states[%d]: name %q is not an identifier (a letter, then "+
				"letters, digits or underscores)", i, name)
	}
	if prev, ok := b.defined[name]; ok {
		return "", errorf(nv.pos, name, ErrDuplicate,
			"state already defined on line %d", prev.line)
	}
	if err := checkFields(item, stateFields, name); err != nil {
		return "", err
	}
	b.defined[name] = nv.pos
	b.known[name] = true

	return name, nil
}

// state builds the definition of the state called name.
func (b *builder) state(name string, item *value) (am.State, error) {
	var s am.State
	var err error
	if s.Auto, err = boolField(item, "auto", name); err != nil {
		return s, err
	}
	if s.Multi, err = boolField(item, "multi", name); err != nil {
		return s, err
	}

	rels := map[string]*value{}
	for _, rel := range relationFields {
		list, v, err := b.relation(item, rel, name)
		if err != nil {
			return s, err
		}
		rels[rel] = v
		switch rel {
		case "require":
			s.Require = list
		case "add":
			s.Add = list
		case "remove":
			s.Remove = list
		case "after":
			s.After = list
		}
	}

	// asyncmachine rejects require+remove and quietly drops remove in
	// add+remove; both mean the file says two things, so reject both
	for _, other := range []string{"require", "add"} {
		if rels[other] == nil || rels["remove"] == nil {
			continue
		}
		for _, entry := range rels["remove"].items {
			if slices.ContainsFunc(rels[other].items, func(v *value) bool {
				return v.str == entry.str
			}) {
				return s, errorf(entry.pos, name, ErrInvalid,
					"%q is in both %s and remove", entry.str, other)
			}
		}
	}

	if s.Tags, err = tagsField(item, name); err != nil {
		return s, err
	}

	return s, nil
}

// relation reads the list field rel of a state. It returns the names and
// the list value, both nil when the field is absent, null or empty.
func (b *builder) relation(
	item *value, rel, name string,
) (am.S, *value, error) {
	v, err := listField(item, rel, name)
	if v == nil || err != nil {
		return nil, nil, err
	}

	var list am.S
	for _, entry := range v.items {
		if entry.kind != kindString {
			return nil, nil, errorf(entry.pos, name, ErrInvalid,
				"%s entries must be state names, not %s", rel, entry.kind)
		}
		target := entry.str
		switch {
		case target == name:
			return nil, nil, errorf(entry.pos, name, ErrInvalid,
				"lists itself in %s", rel)
		case !b.known[target]:
			return nil, nil, errorf(entry.pos, name, ErrUnknownState,
				"%q in %s", target, rel)
		case slices.Contains(list, target):
			return nil, nil, errorf(entry.pos, name, ErrDuplicate,
				"%q listed twice in %s", target, rel)
		}
		list = append(list, target)
	}

	return list, v, nil
}

// tagsField reads a state's tags.
func tagsField(item *value, name string) ([]string, error) {
	v, err := listField(item, "tags", name)
	if v == nil || err != nil {
		return nil, err
	}

	var tags []string
	for _, entry := range v.items {
		switch {
		case entry.kind != kindString:
			return nil, errorf(entry.pos, name, ErrInvalid,
				"tags must be strings, not %s", entry.kind)
		case entry.str == "":
			return nil, errorf(entry.pos, name, ErrInvalid, "empty tag")
		case slices.Contains(tags, entry.str):
			return nil, errorf(entry.pos, name, ErrDuplicate,
				"tag %q listed twice", entry.str)
		}
		tags = append(tags, entry.str)
	}

	return tags, nil
}

// listField returns the list under key, or nil when it is absent, null or
// empty.
func listField(item *value, key, name string) (*value, error) {
	f := item.lookup(key)
	if f == nil || f.val.kind == kindNull {
		return nil, nil
	}
	if f.val.kind != kindSeq {
		return nil, errorf(f.val.pos, name, ErrInvalid,
			"%s must be a list, not %s", key, f.val.kind)
	}
	if len(f.val.items) == 0 {
		return nil, nil
	}

	return f.val, nil
}

// boolField reads an optional boolean; null means false.
func boolField(item *value, key, name string) (bool, error) {
	f := item.lookup(key)
	if f == nil || f.val.kind == kindNull {
		return false, nil
	}
	if f.val.kind != kindBool {
		return false, errorf(f.val.pos, name, ErrInvalid,
			"%s must be true or false, not %s", key, f.val.kind)
	}

	return f.val.b, nil
}

// checkFields rejects keys of m that are not in allowed.
func checkFields(m *value, allowed []string, name string) error {
	for _, f := range m.fields {
		if !slices.Contains(allowed, f.key) {
			return errorf(f.keyPos, name, ErrUnknownField, "%q (want %s)",
				f.key, strings.Join(allowed, ", "))
		}
	}

	return nil
}

// isIdent reports whether s is a letter followed by letters, digits and
// underscores.
func isIdent(s string) bool {
	for i, r := range s {
		switch {
		case unicode.IsLetter(r):
		case i > 0 && (r == '_' || unicode.IsDigit(r)):
		default:
			return false
		}
	}

	return s != ""
}
