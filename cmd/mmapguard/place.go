package main

import (
	"flag"

	"github.com/mmapguard/mmapguard/loader"
	"github.com/mmapguard/mmapguard/trace"
)

// placeFlags are run's options for placing shared objects.
type placeFlags struct {
	rules  []loader.Rule
	ranges []loader.RangeRule
	files  bool
	strict bool
	exe    uint64
}

func (pf *placeFlags) register(fs *flag.FlagSet) {
	fs.Func("place", "load shared objects matching PATTERN (path, file name or soname glob) at ADDR, written `PATTERN=ADDR` (repeatable)", func(s string) error {
		r, err := loader.ParseRule(s)
		if err != nil {
			return err
		}
		pf.rules = append(pf.rules, r)
		return nil
	})
	fs.Func("place-range", "pack shared objects matching PATTERN that have no base of their own into RANGE, written `RANGE=PATTERN` (repeatable)", func(s string) error {
		r, err := loader.ParseRangeRule(s)
		if err != nil {
			return rangeHint(err)
		}
		pf.ranges = append(pf.ranges, r)
		return nil
	})
	fs.Func("place-file", "read place and range rules from `FILE` (repeatable; see docs/placement.md)", func(name string) error {
		rules, ranges, err := readPlacementFile(name)
		if err != nil {
			return rangeHint(err)
		}
		pf.rules = append(pf.rules, rules...)
		pf.ranges = append(pf.ranges, ranges...)
		pf.files = true
		return nil
	})
	oneValueVar(fs, new(string), "place-exe", "", "start a PIE program through its ELF interpreter so that it loads at `ADDR` (its /proc/self/exe then names the interpreter)",
		"an empty ADDR: give --place-exe a page-aligned address, e.g. 0x30000000", func(s string) error {
			// The same ADDR as --place's, where the program's image
			// should start; whether the program fits there is known
			// once it is read (placeExe).
			v, err := loader.ParseAddr(s)
			if err != nil {
				return err
			}
			pf.exe = v
			return nil
		})
	fs.BoolVar(&pf.strict, "place-strict", false, "an object that cannot have its base fails to load (dlopen returns an error) instead of loading elsewhere with a warning")
}

// config is the tracer's placement configuration, or nil when no
// placement option was given. With any of them, objects are also placed
// at their own link base or embedded PE ImageBase.
func (pf *placeFlags) config() *trace.PlaceConfig {
	if len(pf.rules) == 0 && len(pf.ranges) == 0 && !pf.files && !pf.strict && pf.exe == 0 {
		return nil
	}
	return &trace.PlaceConfig{Rules: pf.rules, Ranges: pf.ranges, Strict: pf.strict}
}
