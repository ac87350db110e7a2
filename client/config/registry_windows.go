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
			return Registry{Err: fmt.Errorf("value %s must be a string (REG_SZ), not %s; fix it with: reg add \"%s\" /v %s /t REG_SZ /d … /f",
				v.name, typeName(typ), MachineKeyName, v.name)}
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

// typeName names a registry value type as reg.exe does.
func typeName(t uint32) string {
	names := map[uint32]string{registry.NONE: "REG_NONE", registry.BINARY: "REG_BINARY", registry.DWORD: "REG_DWORD",
		registry.MULTI_SZ: "REG_MULTI_SZ", registry.QWORD: "REG_QWORD"}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("registry type %d", t)
}
