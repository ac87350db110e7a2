package config

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// ReadMachineRegistry reads the machine's registry key, MachineKey under
// HKEY_LOCAL_MACHINE, in the view of this program's architecture (the MSI
// of the same architecture writes there). An absent key or value reads as
// zero; one that is there but unusable is Err.
func ReadMachineRegistry() Registry {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, MachineKey, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return Registry{}
	}
	if err != nil {
		return Registry{Err: fmt.Errorf("cannot open the key: %w", err)}
	}
	defer k.Close()
	var r Registry
	for _, v := range []struct {
		name string
		dst  *string
	}{{RegServiceURL, &r.Service}, {RegServiceCA, &r.ServiceCA}} {
		s, typ, err := k.GetStringValue(v.name)
		switch {
		case errors.Is(err, registry.ErrNotExist):
			continue
		case errors.Is(err, registry.ErrUnexpectedType):
			return Registry{Err: fmt.Errorf("value %s must be a string (REG_SZ), not registry type %d; fix it with: reg add \"%s\" /v %s /t REG_SZ /d https://… /f",
				v.name, typ, MachineKeyName, v.name)}
		case err != nil:
			return Registry{Err: fmt.Errorf("value %s: %w", v.name, err)}
		}
		if typ == registry.EXPAND_SZ {
			if s, err = registry.ExpandString(s); err != nil {
				return Registry{Err: fmt.Errorf("value %s: %w", v.name, err)}
			}
		}
		*v.dst = s
	}
	return r.Check()
}
