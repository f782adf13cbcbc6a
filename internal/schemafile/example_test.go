package schemafile_test

import (
	"errors"
	"fmt"

	"github.com/arpcbridge/arpcbridge/internal/schemafile"
)

func ExampleParse() {
	def, err := schemafile.Parse([]byte(`
id: jobs
states:
  - name: Idle
    auto: true
  - name: Working
    remove: [Idle]
`), schemafile.FormatYAML)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(def.ID, def.Names, def.Schema["Working"].Remove)

	// Output:
	// jobs [Idle Working] [Idle]
}

func ExampleError() {
	_, err := schemafile.Parse([]byte(`
states:
  - name: Working
    require: [Ready]
`), schemafile.FormatYAML)
	fmt.Println(err)

	var serr *schemafile.Error
	if errors.As(err, &serr) && errors.Is(err, schemafile.ErrUnknownState) {
		fmt.Println(serr.Line, serr.Column, serr.State)
	}

	// Output:
	// 4:15: state "Working": unknown state: "Ready" in require
	// 4 15 Working
}
