// Command ukeyrenew is the UKey Renew desktop client.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "ukeyrenew: the desktop window is not built yet; use ukeyctl for tokens and certificates")
	os.Exit(2)
}
