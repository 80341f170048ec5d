// Command demo shows seawall doing its main job without touching the
// machine's own firewall: host rules, container rules Docker cannot bypass
// and a jail, in a lab of network namespaces (see internal/demo). Run it as
// root: `make demo`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/seawall/seawall/internal/demo"
)

func main() {
	bin := flag.String("seawall", "bin/seawall", "the seawall binary")
	noDocker := flag.Bool("no-docker", false, "leave Docker out even where it could run")
	flag.Parse()
	if err := demo.Run(demo.Options{Seawall: *bin, Out: os.Stdout, NoDocker: *noDocker}); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
