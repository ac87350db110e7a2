// Command handoff is a test program for Wine: signed like a release of the
// client, it hands the MSI named by its argument to msiexec through
// update.Updater.Install, as the client does, and says what happened.
package main

import (
	"fmt"
	"os"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/update"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func main() {
	c, err := client.New("http://127.0.0.1:9")
	if err == nil {
		var u *update.Updater
		u, err = update.New(update.Config{Client: c, Platform: renewal.PlatformWindowsX64, Dir: os.TempDir(), Signer: update.ProgramSigner})
		if err == nil {
			err = u.Install(os.Args[1])
		}
	}
	if err != nil {
		fmt.Println("refused:", err)
		os.Exit(2)
	}
	fmt.Println("handed over")
}
