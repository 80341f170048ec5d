package netlab_test

import (
	"fmt"
	"log"

	"github.com/seawall/seawall/internal/netlab"
)

// A program outside of tests (such as the demo) starts the standard lab,
// runs probes and prints the table.
func ExampleStartStandard() {
	lab, err := netlab.StartStandard(netlab.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	if _, err := lab.ServeTCP(netlab.Host, ":22"); err != nil {
		log.Print(err)
		return
	}
	results := lab.Run([]netlab.Probe{
		{From: netlab.LAN1, To: netlab.Addr(netlab.Host, 4), Proto: netlab.TCP, Port: 22, Want: netlab.Open},
		{From: netlab.Net2, To: netlab.Addr(netlab.Host, 6), Proto: netlab.TCP, Port: 22, Want: netlab.Open},
		{From: netlab.Net2, To: netlab.Addr(netlab.Honeypot, 4), Proto: netlab.ICMP, Want: netlab.Open},
	})
	fmt.Print(netlab.FormatTable(results))
}
