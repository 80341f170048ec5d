// Command seawall keeps a Linux host that runs Docker containers
// default-deny, from one declarative policy file.
package main

import (
	"os"

	"github.com/seawall/seawall/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
