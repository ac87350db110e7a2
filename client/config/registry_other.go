//go:build !windows

package config

// ReadMachineRegistry reads nothing: only Windows has a registry.
func ReadMachineRegistry() Registry { return Registry{} }
