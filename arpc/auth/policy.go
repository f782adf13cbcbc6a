package auth

import (
	"fmt"
	"sync/atomic"

	"github.com/arpcbridge/arpcbridge/internal/schemafile"
)

// Policy is a per-state authorization policy: rules of identity globs with
// mutate and observe allow/deny globs over state names. Safe for concurrent
// use; Reload swaps the rules atomically, so calls after it see the new
// ones. A nil *Policy allows everything.
type Policy struct {
	path  string
	rules atomic.Pointer[[]rule]
}

type rule struct {
	identity        string
	mutate, observe perms
}

type perms struct{ allow, deny []string }

// Action is what a client does with a state.
type Action int

const (
	// Mutate is any mutation naming the state (add, remove, set, toggle,
	// AddErrState), and CanAdd/CanRemove.
	Mutate Action = iota
	// Observe is seeing the state's ticks (clock updates) and waiting on it.
	Observe
)

// String returns "mutate" or "observe".
func (a Action) String() string {
	if a == Mutate {
		return "mutate"
	}
	return "observe"
}

// LoadPolicy reads a policy file (YAML or JSON):
//
//	rules:
//	  - identity: "ui-*"
//	    mutate:  {allow: ["Job*"], deny: ["JobAdmin"]}
//	    observe: {allow: ["*"],    deny: ["Secret*"]}
//
// Errors wrap ErrBadFile and say file:line:col.
func LoadPolicy(path string) (*Policy, error) {
	p := &Policy{path: path}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// ParsePolicy is LoadPolicy for data in memory; name is used in errors and
// tells the format by its extension.
func ParsePolicy(name string, data []byte) (*Policy, error) {
	n, err := parseDoc(name, data)
	if err != nil {
		return nil, err
	}
	rules, err := rulesOf(name, n)
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	p.rules.Store(&rules)
	return p, nil
}

// Reload reads the file again; on error the previous rules stay.
func (p *Policy) Reload() error {
	if p.path == "" {
		return nil
	}
	n, err := readDoc(p.path)
	if err != nil {
		return err
	}
	rules, err := rulesOf(p.path, n)
	if err != nil {
		return err
	}
	p.rules.Store(&rules)
	return nil
}

// Path returns the file the policy was loaded from, "" for none.
func (p *Policy) Path() string { return p.path }

// Allowed reports whether identity may do a to state: a rule whose identity
// glob matches allows it and no such rule denies it. The empty identity
// (an unauthenticated client) matches no rule.
func (p *Policy) Allowed(identity string, a Action, state string) bool {
	if p == nil {
		return true
	}
	if identity == "" {
		return false
	}
	allowed := false
	for _, r := range *p.rules.Load() {
		if !match(r.identity, identity) {
			continue
		}
		pm := r.mutate
		if a == Observe {
			pm = r.observe
		}
		if matchAny(pm.deny, state) {
			return false
		}
		if matchAny(pm.allow, state) {
			allowed = true
		}
	}
	return allowed
}

// Check returns an error wrapping ErrPermissionDenied that names the first
// of states identity may not do a to, nil when it may do all.
func (p *Policy) Check(identity string, a Action, states []string) error {
	if p == nil {
		return nil
	}
	for _, s := range states {
		if !p.Allowed(identity, a, s) {
			return fmt.Errorf("%w: %q may not %s state %s", ErrPermissionDenied,
				identity, a, s)
		}
	}
	return nil
}

func rulesOf(name string, doc schemafile.Node) ([]rule, error) {
	var list *schemafile.NodeField
	for _, f := range doc.Fields() {
		if f.Key != "rules" {
			return nil, badKey(name, f, "unknown field %q (want rules)", f.Key)
		}
		list = &f
	}
	if list == nil {
		l, c := doc.Pos()
		return nil, fileErr(name, schemafile.Errorf(l, c, ErrBadFile,
			"no rules: want rules: [{identity: GLOB, mutate: {allow, deny}, "+
				"observe: {allow, deny}}]"))
	}
	if list.Val.IsNull() {
		return []rule{}, nil
	}
	if !list.Val.IsSeq() {
		return nil, badAt(name, list.Val, "rules must be a list, not %s",
			list.Val.Kind())
	}
	rules := []rule{}
	for _, it := range list.Val.Items() {
		if !it.IsMap() {
			return nil, badAt(name, it, "a rule must be a mapping, not %s",
				it.Kind())
		}
		var r rule
		hasId := false
		for _, f := range it.Fields() {
			var err error
			switch f.Key {
			case "identity":
				r.identity, err = str(name, f.Val, "identity")
				if err == nil && r.identity == "" {
					err = badAt(name, f.Val, "identity must not be empty "+
						"(\"*\" matches any authenticated identity)")
				}
				hasId = true
			case "mutate":
				r.mutate, err = permsOf(name, f.Val, "mutate")
			case "observe":
				r.observe, err = permsOf(name, f.Val, "observe")
			default:
				err = badKey(name, f, "unknown field %q (want identity, mutate, "+
					"observe)", f.Key)
			}
			if err != nil {
				return nil, err
			}
		}
		if !hasId {
			return nil, badAt(name, it, "rule without identity")
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func permsOf(name string, n schemafile.Node, what string) (perms, error) {
	var p perms
	if n.IsNull() {
		return p, nil
	}
	if !n.IsMap() {
		return p, badAt(name, n, "%s must be a mapping {allow: [...], deny: "+
			"[...]}, not %s", what, n.Kind())
	}
	for _, f := range n.Fields() {
		var err error
		switch f.Key {
		case "allow":
			p.allow, err = strList(name, f.Val, what+".allow")
		case "deny":
			p.deny, err = strList(name, f.Val, what+".deny")
		default:
			err = badKey(name, f, "unknown field %q (want allow, deny)", f.Key)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}
