// Package schemafile loads an asyncmachine-go state machine definition from a
// JSON or YAML file.
//
// A definition names the machine and lists its states in order; the order
// fixes the state indexes that clocks and the wire protocol use, which is why
// states form a list rather than a map:
//
//	id: jobs            # optional machine id
//	states:             # ordered, at least one
//	  - name: Ready
//	  - name: Idle
//	    auto: true
//	    remove: [Working]
//	  - name: Working
//	    require: [Ready]
//	    after: [Idle]
//	  - name: Done
//	    multi: true
//	    add: [Idle]
//	    tags: [x]
//
// The JSON form has the same fields: {"id": "jobs", "states": [{"name":
// "Ready"}, ...]}. Each state takes name (required), auto and multi (booleans),
// require, add, remove and after (lists of state names) and tags (a list of
// strings); null or a missing field means false or empty. The field meanings
// are those of am.State.
//
// [Load] picks the format from the extension (.json, .yaml, .yml, any case);
// for other names, and for [FormatAuto] in [Parse], input whose first
// character is '{' or '[' is read as JSON, and as YAML only when it is not
// valid JSON but is valid YAML; anything else is read as YAML. JSON is read
// by encoding/json, so it is strict JSON with exact error positions; YAML by
// github.com/goccy/go-yaml, with anchors, aliases and merge keys (<<)
// allowed and a single document per file.
//
// # Validation
//
// Every problem is reported as an [*Error] carrying the file, line, column
// and state name where known, wrapping one of the ErrX sentinels, so callers
// test it with [errors.Is] and [errors.As]. The first problem found is
// returned. Rejected are:
//
//   - malformed YAML or JSON, several YAML documents in one file ([ErrSyntax]);
//   - fields other than the ones above ([ErrUnknownField]);
//   - two states with one name, a name listed twice in one relation or a tag
//     listed twice, or a key given twice in one mapping ([ErrDuplicate]);
//   - a relation naming a state the file does not define ([ErrUnknownState]),
//     except Exception and the names in [Options.External];
//   - wrong value types, a missing or empty states list, a missing name, a
//     name that is not an identifier (a letter, then letters, digits or
//     underscores), a state naming itself in any relation, the same state in
//     both require and remove (asyncmachine rejects this too) or in both add
//     and remove (asyncmachine silently drops the remove) ([ErrInvalid]);
//   - input past [MaxSize] bytes, nesting past [MaxDepth] levels, or past
//     [MaxNodes] values once YAML aliases are expanded ([ErrLimit]).
//
// # Reserved names
//
// asyncmachine-go v0.19.1 forbids no state name: am.New and
// am.Schema.Parse accept any string, even "" and names with spaces, which
// is why this package adds the identifier rule. One name is special:
// Exception (am.StateException) is the machine's built-in error state.
// am.New adds it as {multi: true} when the schema lacks it, and
// am.Machine.VerifyStates then requires it among the names. A file may
// define Exception itself (to give it relations) and its relations may name
// it without defining it. [Def] holds only what the file defines, so a
// caller building a machine from a Def alone passes
// am.SAdd(def.Names, am.S{am.StateException}) to VerifyStates. The names
// Any, and names ending in Enter, Exit, State or End, are accepted but
// confuse asyncmachine's handler-method naming; avoid them for states that
// get handlers.
//
// Require cycles are allowed (asyncmachine only logs them), as are After
// cycles.
package schemafile
