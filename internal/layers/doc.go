// Package layers holds no code: its test checks that the arrows between the
// project's packages point the way docs/ARCHITECTURE.md draws them.
//
// The model. Each rule names the packages whose imports it reads (with every
// package they pull in, as `go list -deps` prints them, for Linux and for
// Windows, whose TPM and keyring code differs) and the import paths that must
// not appear among them. A rule that is broken names the package that came
// in and the chain of imports that brought it, so the arrow can be found and
// removed rather than the rule relaxed.
package layers
