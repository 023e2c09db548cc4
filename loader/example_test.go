package loader

import (
	"fmt"
	"strings"

	"github.com/mmapguard/mmapguard/region"
)

// Objects as Read would return them; a real caller opens files.
func exampleObjects() []*Object {
	return []*Object{
		synth("/opt/app/ntdll.dll.so", "", 0, 0x20000, 0),
		synth("/opt/app/linked.so", "", 0x7d000000, 0x5000, 0),
		synth("/opt/app/kernel32.dll.so", "", 0, 0x8000, 0x6a000000),
		synth("/opt/app/user32.dll.so", "", 0, 0x6000, 0),
		synth("/opt/app/gdi32.dll.so", "", 0, 0x3000, 0),
	}
}

// Each source of a base, in order of precedence: a rule, the object's
// link base, its PE ImageBase, and a placement range for the rest.
func ExamplePlanner() {
	p := &Planner{
		Rules:  []Rule{{Pattern: "ntdll.dll.so", Base: 0x7bc00000}},
		Ranges: []RangeRule{{Range: region.Must(0x10000000, 0x80000000), Pattern: "*.dll.so"}},
	}
	for _, pl := range p.Plan(exampleObjects()...) {
		fmt.Printf("%-20s %-13s %v\n", pl.Object.Path[len("/opt/app/"):], pl.Source, pl.SpanAt())
	}
	// Output:
	// ntdll.dll.so         rule          0x7bc00000-0x7bc20000
	// linked.so            p_vaddr       0x7d000000-0x7d005000
	// kernel32.dll.so      PE ImageBase  0x6a000000-0x6a008000
	// user32.dll.so        range         0x10000000-0x10006000
	// gdi32.dll.so         range         0x10006000-0x10009000
}

// Conflicts come back in the placement; what happens to the load is the
// caller's to enforce, as Strict says.
func ExamplePlanner_conflicts() {
	p := &Planner{Rules: []Rule{
		{Pattern: "ntdll.dll.so", Base: 0x7bc00000},
		{Pattern: "user32.dll.so", Base: 0x7bc10000},
		{Pattern: "gdi32.dll.so", Base: 0x7ffffffff000 - 0x1000},
	}}
	p.Occupy(region.Must(0x6a004000, 0x6a005000)) // a mapping the program already has
	for _, pl := range p.Plan(exampleObjects()...) {
		if pl.Conflict != nil {
			fmt.Println(pl.Conflict)
		}
	}
	p.Strict = true
	fmt.Println(p.Plan(synth("/opt/app/again.so", "", 0x7d000000, 0x1000, 0))[0].Conflict)
	// Output:
	// /opt/app/kernel32.dll.so wants 0x6a000000-0x6a008000 (PE ImageBase) but 0x6a004000-0x6a005000 is already mapped; it loads where ld.so puts it
	// /opt/app/user32.dll.so wants 0x7bc10000-0x7bc16000 (rule) but /opt/app/ntdll.dll.so holds 0x7bc00000-0x7bc20000 (rule); it loads where ld.so puts it
	// /opt/app/gdi32.dll.so wants 0x7fffffffe000-0x800000001000 (rule), past the end of user space (0x7ffffffff000); it loads where ld.so puts it
	// /opt/app/again.so wants 0x7d000000-0x7d001000 (p_vaddr) but /opt/app/linked.so holds 0x7d000000-0x7d005000 (p_vaddr); strict placement: the load fails
}

func ExampleParsePlacementFile() {
	rules, ranges, err := ParsePlacementFile(strings.NewReader(`
# Wine: builtins below 2 GiB
place ntdll.dll.so 0x7bc00000
range 0x10000-0x80000000 *.dll.so
`))
	fmt.Println(rules, ranges, err)
	_, _, err = ParsePlacementFile(strings.NewReader("place ntdll.dll.so 0x7bc00800\n"))
	fmt.Println(err)
	// Output:
	// [ntdll.dll.so=0x7bc00000] [0x10000-0x80000000=*.dll.so] <nil>
	// line 1: bad placement rule: address 0x7bc00800 is not page-aligned: give a multiple of 0x1000, e.g. 0x7bc00000
}
