package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/seawall/seawall/bench/internal/benchns"
)

// testNS creates a namespace for the test, or skips when not root.
func testNS(t *testing.T) *benchns.NS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	reg := benchns.NewRegistry("seawall-bench-test")
	ns, err := reg.Create("setwatch")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.DeleteAll(); err != nil {
			t.Error(err)
		}
	})
	return ns
}

func nft(t *testing.T, ns *benchns.NS, script string) {
	t.Helper()
	if err := nftErr(ns, script); err != nil {
		t.Fatal(err)
	}
}

func nftErr(ns *benchns.NS, script string) error {
	cmd := ns.Command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft -f: %v: %s\n%s", err, out, script)
	}
	return nil
}

func TestSetReader(t *testing.T) {
	ns := testNS(t)
	nft(t, ns, `
table inet t {
	set plain { type ipv4_addr; flags timeout; elements = { 192.0.2.1 timeout 1h, 192.0.2.3 } }
	set ranges { type ipv4_addr; flags interval; elements = { 198.51.100.0/24, 203.0.113.7 } }
	set six { type ipv6_addr; flags timeout; elements = { 2001:db8::1 } }
}`)
	for _, c := range []struct {
		set  string
		want []string
	}{
		{"plain", []string{"192.0.2.1", "192.0.2.3"}},
		{"ranges", []string{"198.51.100.0", "203.0.113.7"}}, // interval ends are not addresses
		{"six", []string{"2001:db8::1"}},
	} {
		r, err := newSetReader(ns, "t", c.set)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.addrs()
		r.close()
		if err != nil {
			t.Fatalf("%s: %v", c.set, err)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.set, got, c.want)
		}
		for _, w := range c.want {
			if _, ok := got[netip.MustParseAddr(w)]; !ok {
				t.Errorf("%s: %s missing from %v", c.set, w, got)
			}
		}
	}

	missing, err := newSetReader(ns, "t", "nope")
	if err != nil {
		t.Fatal(err)
	}
	defer missing.close()
	if _, err := missing.addrs(); !errors.Is(err, errNoSet) {
		t.Errorf("a missing set: got %v, want errNoSet", err)
	}
	if ok, err := missing.exists(); ok || err != nil {
		t.Errorf("exists of a missing set: %v, %v", ok, err)
	}
}

func TestWaitAll(t *testing.T) {
	ns := testNS(t)
	r, err := newSetReader(ns, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	want := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.3")}
	start := time.Now()
	// The set appears later, with one address, then the other.
	added := make(chan error, 1)
	go func() {
		time.Sleep(30 * time.Millisecond)
		err := nftErr(ns, "table inet t {\n set s { type ipv4_addr; elements = { 192.0.2.1 }; }\n}")
		if err == nil {
			time.Sleep(30 * time.Millisecond)
			err = nftErr(ns, "add element inet t s { 192.0.2.3 }")
		}
		added <- err
	}()
	res, err := r.waitAll(context.Background(), want, start, waitOpts{every: time.Millisecond, timeout: 5 * time.Second})
	if aerr := <-added; aerr != nil {
		t.Fatal(aerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if d := res.all.seen.Sub(start); d < 60*time.Millisecond {
		t.Errorf("all present after %v, before the second address was added", d)
	}
	if !res.first.seen.Before(res.all.seen) || res.all.before.After(res.all.seen) {
		t.Errorf("arrivals out of order: first %+v, all %+v", res.first, res.all)
	}

	// A timeout names how many were there.
	_, err = r.waitAll(context.Background(), append(want, netip.MustParseAddr("192.0.2.5")), time.Now(),
		waitOpts{every: time.Millisecond, timeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "2 of 3") {
		t.Errorf("got %v, want a timeout with 2 of 3", err)
	}
	// So does a stall.
	_, err = r.waitAll(context.Background(), append(want, netip.MustParseAddr("192.0.2.5")), time.Now(),
		waitOpts{every: time.Millisecond, timeout: time.Minute, stall: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "stalled") {
		t.Errorf("got %v, want a stall", err)
	}
}
