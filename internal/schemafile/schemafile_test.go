package schemafile_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/internal/schemafile"
)

// jobsDef is what testdata/jobs.* define.
var jobsDef = &schemafile.Def{
	ID: "jobs",
	Schema: am.Schema{
		"Ready":   {},
		"Idle":    {Auto: true, Remove: am.S{"Working"}},
		"Working": {Require: am.S{"Ready"}, After: am.S{"Idle"}},
		"Done":    {Multi: true, Add: am.S{"Idle"}, Tags: []string{"x"}},
	},
	Names: am.S{"Ready", "Idle", "Working", "Done"},
}

func TestLoad(t *testing.T) {
	for _, name := range []string{
		"jobs.yaml", "jobs.YML", "jobs.json", "jobs-yaml.def", "jobs-json.def",
		"anchors.yaml",
	} {
		t.Run(name, func(t *testing.T) {
			def, err := schemafile.Load(filepath.Join("testdata", name))
			require.NoError(t, err)
			assert.Equal(t, jobsDef, def)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		file      string
		sentinel  error
		line, col int
		state     string
	}{
		{"unknown-state.yaml", schemafile.ErrUnknownState, 5, 15, "Working"},
		{"syntax.json", schemafile.ErrSyntax, 5, 5, ""},
		{"syntax.yaml", schemafile.ErrSyntax, 5, 3, ""},
		{"duplicate.yml", schemafile.ErrDuplicate, 4, 11, "Idle"},
		{"unknown-field.json", schemafile.ErrUnknownField, 2, 34, "Idle"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			_, err := schemafile.Load(path)
			require.ErrorIs(t, err, tt.sentinel)
			var serr *schemafile.Error
			require.ErrorAs(t, err, &serr)
			assert.Equal(t, path, serr.File)
			assert.Equal(t, tt.line, serr.Line, "line")
			assert.Equal(t, tt.col, serr.Column, "column")
			assert.Equal(t, tt.state, serr.State)
			assert.True(t, strings.HasPrefix(err.Error(), path+":"),
				"error %q names the file", err)
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none.yaml")
		_, err := schemafile.Load(path)
		require.ErrorIs(t, err, fs.ErrNotExist)
		var serr *schemafile.Error
		require.ErrorAs(t, err, &serr)
		assert.Equal(t, path, serr.File)
		assert.Zero(t, serr.Line)
	})
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		format schemafile.Format
		in     string
		want   *schemafile.Def
	}{
		{
			name: "minimal yaml",
			in:   "states:\n  - name: A\n",
			want: &schemafile.Def{Schema: am.Schema{"A": {}}, Names: am.S{"A"}},
		},
		{
			name:   "minimal json",
			format: schemafile.FormatJSON,
			in:     `{"states": [{"name": "A"}]}`,
			want:   &schemafile.Def{Schema: am.Schema{"A": {}}, Names: am.S{"A"}},
		},
		{
			name: "yaml flow style detected as yaml",
			in:   "{id: m, states: [{name: A, multi: true}]}",
			want: &schemafile.Def{
				ID:     "m",
				Schema: am.Schema{"A": {Multi: true}},
				Names:  am.S{"A"},
			},
		},
		{
			name: "order is kept, relations point forward",
			in: "states:\n  - name: Zed\n    after: [Alpha]\n" +
				"  - name: Alpha\n  - name: Mid\n",
			want: &schemafile.Def{
				Schema: am.Schema{"Zed": {After: am.S{"Alpha"}}, "Alpha": {},
					"Mid": {}},
				Names: am.S{"Zed", "Alpha", "Mid"},
			},
		},
		{
			name: "nulls and empty lists mean unset",
			in: "id: ~\nstates:\n  - name: A\n    auto: null\n    require: []\n" +
				"    tags: null\n",
			want: &schemafile.Def{Schema: am.Schema{"A": {}}, Names: am.S{"A"}},
		},
		{
			name: "exception may be named and defined",
			in: "states:\n  - name: ErrJob\n    require: [Exception]\n" +
				"  - name: Exception\n    multi: true\n",
			want: &schemafile.Def{
				Schema: am.Schema{
					"ErrJob":    {Require: am.S{am.StateException}},
					"Exception": {Multi: true},
				},
				Names: am.S{"ErrJob", "Exception"},
			},
		},
		{
			name: "exception may be named without being defined",
			in:   "states:\n  - name: ErrJob\n    add: [Exception]\n",
			want: &schemafile.Def{
				Schema: am.Schema{"ErrJob": {Add: am.S{am.StateException}}},
				Names:  am.S{"ErrJob"},
			},
		},
		{
			name: "require cycle",
			in: "states:\n  - name: A\n    require: [B]\n" +
				"  - name: B\n    require: [A]\n",
			want: &schemafile.Def{
				Schema: am.Schema{"A": {Require: am.S{"B"}},
					"B": {Require: am.S{"A"}}},
				Names: am.S{"A", "B"},
			},
		},
		{
			name: "unicode names, tags with colons, str tag",
			in: "states:\n  - name: Größe_2\n    tags: ['group:x', !!str 12]\n" +
				"  - name: \"Ünïcode\"\n",
			want: &schemafile.Def{
				Schema: am.Schema{"Größe_2": {Tags: []string{"group:x", "12"}},
					"Ünïcode": {}},
				Names: am.S{"Größe_2", "Ünïcode"},
			},
		},
		{
			name: "byte order mark",
			in:   "\xef\xbb\xbf{\"states\": [{\"name\": \"A\"}]}",
			want: &schemafile.Def{Schema: am.Schema{"A": {}}, Names: am.S{"A"}},
		},
		{
			name: "merge key, explicit keys win",
			in: "states:\n  - &base\n    name: Working\n    require: [Ready]\n" +
				"  - <<: *base\n    name: Reviewing\n  - name: Ready\n",
			want: &schemafile.Def{
				Schema: am.Schema{
					"Working":   {Require: am.S{"Ready"}},
					"Reviewing": {Require: am.S{"Ready"}},
					"Ready":     {},
				},
				Names: am.S{"Working", "Reviewing", "Ready"},
			},
		},
		{
			name: "merge list, earlier source wins",
			in: "states:\n  - &a {name: A, auto: true}\n" +
				"  - &b {name: B, multi: true, auto: false}\n" +
				"  - <<: [*a, *b]\n    name: C\n",
			want: &schemafile.Def{
				Schema: am.Schema{
					"A": {Auto: true},
					"B": {Multi: true},
					"C": {Auto: true, Multi: true},
				},
				Names: am.S{"A", "B", "C"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def, err := schemafile.Parse([]byte(tt.in), tt.format)
			require.NoError(t, err)
			assert.Equal(t, tt.want, def)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		format    schemafile.Format
		in        string
		sentinel  error
		line, col int
		state     string
	}{
		// syntax
		{"yaml syntax", 0, "states:\n  - name: A\n    add: [B\n",
			schemafile.ErrSyntax, 3, 10, ""},
		{"json syntax", schemafile.FormatJSON, "{\n  \"states\": [,]\n}",
			schemafile.ErrSyntax, 2, 14, ""},
		{"json truncated", schemafile.FormatJSON, "{\"states\": [",
			schemafile.ErrSyntax, 1, 13, ""},
		{"json trailing data", schemafile.FormatJSON, "{\"states\": []} {}",
			schemafile.ErrSyntax, 1, 16, ""},
		{"json trailing comma", schemafile.FormatJSON,
			"{\"states\": [{\"name\": \"A\"},]}", schemafile.ErrSyntax, 1, 27, ""},
		{"json detected, json error", 0, "{\"states\": [{\"name\": \"A\"}\n{}]}",
			schemafile.ErrSyntax, 2, 1, ""},
		{"json is not yaml", schemafile.FormatJSON, "states: []",
			schemafile.ErrSyntax, 1, 1, ""},
		{"two yaml documents", 0, "states: [{name: A}]\n---\nid: x\n",
			schemafile.ErrSyntax, 3, 1, ""},
		{"undefined alias", 0, "states:\n  - name: A\n    add: *x\n",
			schemafile.ErrSyntax, 3, 10, ""},

		// shape
		{"empty yaml", schemafile.FormatYAML, "# nothing\n", schemafile.ErrInvalid,
			1, 1, ""},
		{"top level list", 0, "- name: A\n", schemafile.ErrInvalid, 1, 1, ""},
		{"missing states", 0, "id: x\n", schemafile.ErrInvalid, 1, 1, ""},
		{"empty states", 0, "id: x\nstates: []\n", schemafile.ErrInvalid, 2, 1,
			""},
		{"null states", 0, "id: x\nstates:\n", schemafile.ErrInvalid, 2, 1, ""},
		{"states map", 0, "states:\n  A: {}\n", schemafile.ErrInvalid, 2, 3, ""},
		{"state scalar", 0, "states:\n  - A\n", schemafile.ErrInvalid, 2, 5, ""},
		{"id number", 0, "id: 5\nstates: [{name: A}]\n", schemafile.ErrInvalid,
			1, 5, ""},
		{"auto string", 0, "states:\n  - name: A\n    auto: yes\n",
			schemafile.ErrInvalid, 3, 11, "A"},
		{"multi number", schemafile.FormatJSON,
			`{"states": [{"name": "A", "multi": 1}]}`, schemafile.ErrInvalid, 1, 36,
			"A"},
		{"relation scalar", 0, "states:\n  - name: A\n  - name: B\n    add: A\n",
			schemafile.ErrInvalid, 4, 10, "B"},
		{"relation entry number", 0, "states:\n  - name: A\n    add: [1]\n",
			schemafile.ErrInvalid, 3, 11, "A"},
		{"empty tag", 0, "states:\n  - name: A\n    tags: ['']\n",
			schemafile.ErrInvalid, 3, 12, "A"},
		{"non-scalar key", 0, "states:\n  - name: A\n    [x]: 1\n",
			schemafile.ErrSyntax, 3, 8, ""},

		{"merge of a scalar", 0, "states:\n  - <<: 5\n    name: A\n",
			schemafile.ErrInvalid, 2, 9, ""},
		{"merge of a list of scalars", 0,
			"states:\n  - <<: [x]\n    name: A\n", schemafile.ErrInvalid, 2, 10,
			""},

		// names
		{"missing name", 0, "states:\n  - auto: true\n", schemafile.ErrInvalid,
			2, 5, ""},
		{"empty name", 0, "states:\n  - name: ''\n", schemafile.ErrInvalid, 2,
			11, ""},
		{"name with space", 0, "states:\n  - name: A B\n", schemafile.ErrInvalid,
			2, 11, ""},
		{"name with digit first", 0, "states:\n  - name: 1A\n",
			schemafile.ErrInvalid, 2, 11, ""},
		{"name number", 0, "states:\n  - name: 12\n", schemafile.ErrInvalid, 2,
			11, ""},
		{"duplicate state", 0, "states:\n  - name: A\n  - name: A\n",
			schemafile.ErrDuplicate, 3, 11, "A"},
		{"duplicate key", 0, "states:\n  - name: A\n    name: B\n",
			schemafile.ErrDuplicate, 3, 5, ""},
		{"duplicate json key", schemafile.FormatJSON,
			"{\"states\": [], \"states\": []}", schemafile.ErrDuplicate, 1, 16, ""},

		// fields
		{"unknown top-level field", 0, "version: 1\nstates: [{name: A}]\n",
			schemafile.ErrUnknownField, 1, 1, ""},
		{"unknown state field", 0, "states:\n  - name: A\n    requires: [A]\n",
			schemafile.ErrUnknownField, 3, 5, "A"},
		{"field names are case-sensitive", 0, "states:\n  - Name: A\n",
			schemafile.ErrInvalid, 2, 5, ""},

		// relations
		{"unknown state", 0, "states:\n  - name: A\n    require: [Ready]\n",
			schemafile.ErrUnknownState, 3, 15, "A"},
		{"unknown state in after", schemafile.FormatJSON,
			`{"states": [{"name": "A", "after": ["A2"]}]}`,
			schemafile.ErrUnknownState, 1, 37, "A"},
		{"requires itself", 0, "states:\n  - name: A\n    require: [A]\n",
			schemafile.ErrInvalid, 3, 15, "A"},
		{"removes itself", 0, "states:\n  - name: A\n    remove: [A]\n",
			schemafile.ErrInvalid, 3, 14, "A"},
		{"adds itself", 0, "states:\n  - name: A\n    add: [A]\n",
			schemafile.ErrInvalid, 3, 11, "A"},
		{"after itself", 0, "states:\n  - name: A\n    after: [A]\n",
			schemafile.ErrInvalid, 3, 13, "A"},
		{"duplicate relation entry", 0,
			"states:\n  - name: A\n    add: [B, B]\n  - name: B\n",
			schemafile.ErrDuplicate, 3, 14, "A"},
		{"duplicate tag", 0, "states:\n  - name: A\n    tags: [t, t]\n",
			schemafile.ErrDuplicate, 3, 15, "A"},
		{"require and remove", 0,
			"states:\n  - name: A\n    require: [B]\n    remove: [B]\n  - name: B\n",
			schemafile.ErrInvalid, 4, 14, "A"},
		{"add and remove", 0,
			"states:\n  - name: A\n    add: [B]\n    remove: [B]\n  - name: B\n",
			schemafile.ErrInvalid, 4, 14, "A"},

		// limits
		{"deep yaml", 0, "states: " + strings.Repeat("[", 100),
			schemafile.ErrLimit, 1, 73, ""},
		{"deep json", schemafile.FormatJSON, strings.Repeat("[", 100),
			schemafile.ErrLimit, 1, 65, ""},
		{"deep indentation", 0, "states:\n" + strings.Repeat(" ", 300) + "x\n",
			schemafile.ErrLimit, 2, 301, ""},
		{"too large", 0, strings.Repeat(" ", schemafile.MaxSize+1),
			schemafile.ErrLimit, 0, 0, ""},
		{"alias expansion", 0, aliasBomb(), schemafile.ErrLimit, 0, 0, ""},

		// format
		{"unknown format", schemafile.Format(9), "states: [{name: A}]",
			schemafile.ErrInvalid, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def, err := schemafile.Parse([]byte(tt.in), tt.format)
			require.Error(t, err)
			assert.Nil(t, def)
			assert.ErrorIs(t, err, tt.sentinel)
			var serr *schemafile.Error
			require.ErrorAs(t, err, &serr)
			if tt.line != 0 {
				assert.Equal(t, tt.line, serr.Line, "line in %v", err)
				assert.Equal(t, tt.col, serr.Column, "column in %v", err)
			}
			assert.Equal(t, tt.state, serr.State, "state in %v", err)
			assert.Empty(t, serr.File)
		})
	}
}

// aliasBomb nests aliases so that the document expands to far more than
// MaxNodes values.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	prev := "a0"
	for i := 1; i < 10; i++ {
		name := "a" + string(rune('0'+i))
		b.WriteString(name + ": &" + name + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = name
	}

	return b.String()
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *schemafile.Error
		want string
	}{
		{&schemafile.Error{File: "f.yaml", Line: 3, Column: 7, State: "A",
			Err: schemafile.ErrInvalid}, `f.yaml:3:7: state "A": invalid definition`},
		{&schemafile.Error{File: "f.yaml", Err: fs.ErrNotExist},
			"f.yaml: file does not exist"},
		{&schemafile.Error{Line: 2, Err: schemafile.ErrSyntax},
			"2: syntax error"},
		{&schemafile.Error{Err: schemafile.ErrLimit}, "limit exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
			assert.True(t, errors.Is(tt.err, tt.err.Err))
		})
	}
}

func TestFormatOf(t *testing.T) {
	tests := map[string]schemafile.Format{
		"a.json":    schemafile.FormatJSON,
		"a.JSON":    schemafile.FormatJSON,
		"a.yaml":    schemafile.FormatYAML,
		"dir/a.yml": schemafile.FormatYAML,
		"a.def":     schemafile.FormatAuto,
		"a":         schemafile.FormatAuto,
	}
	for path, want := range tests {
		t.Run(path, func(t *testing.T) {
			assert.Equal(t, want, schemafile.FormatOf(path))
		})
	}
}

func TestExternalStates(t *testing.T) {
	in := []byte("states:\n  - name: Working\n    require: [Ready]\n")

	_, err := schemafile.Parse(in, schemafile.FormatYAML)
	require.ErrorIs(t, err, schemafile.ErrUnknownState)

	def, err := schemafile.ParseWithOptions(in, schemafile.FormatYAML,
		schemafile.Options{External: am.S{"Start", "Ready"}})
	require.NoError(t, err)
	assert.Equal(t, am.S{"Ready"}, def.Schema["Working"].Require)
	assert.Equal(t, am.S{"Working"}, def.Names)
}

// TestMachine checks that asyncmachine accepts a loaded definition as is,
// with Exception added to the names as the package doc says.
func TestMachine(t *testing.T) {
	def, err := schemafile.Load(filepath.Join("testdata", "jobs.yaml"))
	require.NoError(t, err)

	mach := am.New(context.Background(), def.Schema, &am.Opts{Id: def.ID})
	defer mach.Dispose()
	require.NoError(t, mach.Err())
	require.NoError(t, mach.VerifyStates(
		am.SAdd(def.Names, am.S{am.StateException})))
	assert.Equal(t, append(def.Names, am.StateException), mach.StateNames())

	// Idle is auto, and while active it keeps Working out
	mach.Add1("Ready", nil)
	assert.ElementsMatch(t, am.S{"Ready", "Idle"}, mach.ActiveStates(nil))
	mach.Add1("Working", nil)
	assert.False(t, mach.Is1("Working"))
	// Done is multi and adds Idle
	mach.Add1("Done", nil)
	mach.Add1("Done", nil)
	assert.ElementsMatch(t, am.S{"Ready", "Idle", "Done"},
		mach.ActiveStates(nil))
	assert.Equal(t, uint64(3), mach.Tick("Done"))
}
