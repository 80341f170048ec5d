package ruleset

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"
)

func TestElementJSON(t *testing.T) {
	a := netip.MustParseAddr
	for _, e := range []Element{
		{First: a("10.0.0.0"), Last: a("10.255.255.255")},
		{First: a("192.0.2.1"), Last: a("192.0.2.1")},
		{First: a("10.0.0.1"), Last: a("10.0.0.5")},
		{First: a("2001:db8::"), Last: a("2001:db8::ffff")},
		{Proto: IPv6, Timeout: 90 * time.Second},
		{First: a("192.0.2.9"), Last: a("192.0.2.9"), Timeout: time.Hour},
		{First: a("172.30.0.2"), Last: a("172.30.0.2"), Jump: "ctr_in_web"},
		{Port: 8443, Jump: "ctr_web_in"},
	} {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back Element
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if back != e {
			t.Errorf("%s came back as %+v, want %+v", b, back, e)
		}
	}
}
