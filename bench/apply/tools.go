package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// tool is one way of loading the workload.
type tool struct {
	Name  string
	Steps []string // names of the commands of one load, for the breakdown
	// Load returns the commands that load version "a" or "b". With
	// replace, they replace what an earlier load of the other version left
	// in the namespace (the re-apply scenario).
	Load func(n *netns, version string, replace bool) []spec
	// Prep, if set, loads version "a" before a re-apply instead of Load.
	Prep func(n *netns) []spec
	// ReapplyOnly tools are not run in the fresh scenario.
	ReapplyOnly bool
	// Verify checks the kernel state after loading version.
	Verify func(n *netns, version string) (state, error)
}

// state is what a load left in the kernel.
type state struct {
	SetElems int    // elements of the blocklist set
	SetID    string // identifies the kernel set: nft's handle, or "" (ipset)
	Rules    int    // rules in the input chain
	Listing  string // the input chain as nft lists it (seawall and nft only)
}

// bench holds everything the scenarios share.
type bench struct {
	work    string
	seawall string // the binary
	in      *input
	files   *files
	scripts map[string]string // version -> path of the script seawall plan --format nft printed
	texts   map[string]string // version -> its text
	ns      *namespaces
	ipsetOK bool
}

func (b *bench) tools() []*tool {
	ts := []*tool{
		{
			Name:  "seawall apply",
			Steps: []string{"seawall apply"},
			Load: func(n *netns, version string, _ bool) []spec {
				return []spec{{Argv: []string{b.seawall, "-c", b.files.Policy[version],
					"--state-dir", b.stateDir(n), "apply"}}}
			},
			Verify: b.verifyNft,
		},
		{
			Name:  "nft -f",
			Steps: []string{"nft -f"},
			Load: func(_ *netns, version string, _ bool) []spec {
				return []spec{{Argv: []string{"nft", "-f", b.scripts[version]}}}
			},
			Verify: b.verifyNft,
		},
	}
	if b.ipsetOK {
		ts = append(ts, &tool{
			Name:  "iptables+ipset",
			Steps: []string{"ipset restore", "iptables-nft-restore"},
			Load: func(_ *netns, version string, replace bool) []spec {
				set := b.files.IPSetFresh
				if replace {
					set = b.files.IPSetSwap
				}
				return []spec{
					{Argv: []string{"ipset", "restore"}, Stdin: set},
					{Argv: []string{"iptables-nft-restore"}, Stdin: b.files.IPTRules[version]},
				}
			},
			Verify: b.verifyIPT,
		}, &tool{
			// A careful user who knows that only a rule changed leaves the
			// set alone, as seawall apply does with an unchanged set.
			Name:        "iptables-restore only",
			Steps:       []string{"iptables-nft-restore"},
			ReapplyOnly: true,
			Prep: func(*netns) []spec {
				return []spec{
					{Argv: []string{"ipset", "restore"}, Stdin: b.files.IPSetFresh},
					{Argv: []string{"iptables-nft-restore"}, Stdin: b.files.IPTRules["a"]},
				}
			},
			Load: func(_ *netns, version string, _ bool) []spec {
				return []spec{{Argv: []string{"iptables-nft-restore"}, Stdin: b.files.IPTRules[version]}}
			},
			Verify: b.verifyIPT,
		})
	}
	return ts
}

func (b *bench) stateDir(n *netns) string {
	return filepath.Join(b.work, "state", n.name)
}

// wantRule and otherRule are the changed rule as version has it, and as
// the other version has it.
func (b *bench) wantRule(version string) (want, other portRule) {
	want = b.in.rules(version)[b.in.Changed]
	other = want
	if version == "a" {
		other.Port = b.in.NewPort
	} else {
		other.Port = b.in.Rules[b.in.Changed].Port
	}
	return want, other
}

// verifyNft checks table inet seawall: the blocklist set holds every entry
// (counted from nft's JSON), the input chain has as many rules as the
// script, and the changed rule is the version's.
func (b *bench) verifyNft(n *netns, version string) (state, error) {
	var st state
	out, err := n.output("nft", "-j", "list", "set", "inet", "seawall", "blocklist_v4")
	if err != nil {
		return st, err
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return st, fmt.Errorf("nft -j list set: %w", err)
	}
	found := false
	for _, item := range doc.Nftables {
		raw, ok := item["set"]
		if !ok {
			continue
		}
		var set struct {
			Name   string            `json:"name"`
			Handle int               `json:"handle"`
			Elem   []json.RawMessage `json:"elem"`
		}
		if err := json.Unmarshal(raw, &set); err != nil {
			return st, fmt.Errorf("nft -j list set: %w", err)
		}
		if set.Name == "blocklist_v4" {
			st.SetElems, found = len(set.Elem), true
			st.SetID = fmt.Sprintf("set handle %d", set.Handle)
		}
	}
	if !found {
		return st, fmt.Errorf("nft -j list set: no set blocklist_v4 in the output")
	}
	if want := len(b.in.Blocklist); st.SetElems != want {
		return st, fmt.Errorf("set blocklist_v4 holds %d elements, want %d", st.SetElems, want)
	}
	// Handles count up per table, and tables per namespace: a set that
	// survives a re-apply keeps both, a re-created table or set does not.
	th, err := tableHandle(n)
	if err != nil {
		return st, err
	}
	st.SetID = fmt.Sprintf("table handle %d, %s", th, st.SetID)
	st.Listing, err = n.output("nft", "list", "chain", "inet", "seawall", "input")
	if err != nil {
		return st, err
	}
	st.Rules = chainRuleCount(st.Listing, "input")
	if want := chainRuleCount(b.texts[version], "input"); st.Rules != want {
		return st, fmt.Errorf("chain input has %d rules, want %d", st.Rules, want)
	}
	want, other := b.wantRule(version)
	if !strings.Contains(st.Listing, nftRuleText(want)) || strings.Contains(st.Listing, nftRuleText(other)) {
		return st, fmt.Errorf("chain input does not have version %s of the changed rule (%s)", version, nftRuleText(want))
	}
	return st, nil
}

// tableHandle returns the handle of table inet seawall.
func tableHandle(n *netns) (int, error) {
	out, err := n.output("nft", "-j", "list", "tables", "inet")
	if err != nil {
		return 0, err
	}
	var doc struct {
		Nftables []struct {
			Table *struct {
				Name   string `json:"name"`
				Handle int    `json:"handle"`
			} `json:"table"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return 0, fmt.Errorf("nft -j list tables: %w", err)
	}
	for _, item := range doc.Nftables {
		if item.Table != nil && item.Table.Name == "seawall" {
			return item.Table.Handle, nil
		}
	}
	return 0, fmt.Errorf("nft -j list tables: no table inet seawall")
}

var ipsetEntries = regexp.MustCompile(`(?m)^Number of entries: (\d+)$`)

// verifyIPT checks the ipset (entry count from "ipset list -t", no set
// left over from a swap) and the iptables INPUT chain.
func (b *bench) verifyIPT(n *netns, version string) (state, error) {
	var st state
	out, err := n.output("ipset", "list", "-t", ipsetSetName)
	if err != nil {
		return st, err
	}
	m := ipsetEntries.FindStringSubmatch(out)
	if m == nil {
		return st, fmt.Errorf("ipset list -t %s: no \"Number of entries\" line", ipsetSetName)
	}
	st.SetElems, _ = strconv.Atoi(m[1])
	if want := len(b.in.Blocklist); st.SetElems != want {
		return st, fmt.Errorf("ipset %s holds %d entries, want %d", ipsetSetName, st.SetElems, want)
	}
	names, err := n.output("ipset", "list", "-n")
	if err != nil {
		return st, err
	}
	if strings.TrimSpace(names) != ipsetSetName {
		return st, fmt.Errorf("ipset list -n: want only %s, got %q", ipsetSetName, strings.TrimSpace(names))
	}
	rules, err := n.output("iptables-nft", "-S", "INPUT")
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(rules, "\n") {
		if strings.HasPrefix(line, "-A INPUT ") {
			st.Rules++
		}
	}
	if want := len(b.in.Rules) + iptFixedRules; st.Rules != want {
		return st, fmt.Errorf("iptables INPUT has %d rules, want %d", st.Rules, want)
	}
	want, other := b.wantRule(version)
	if !strings.Contains(rules, iptRuleText(want)+"\n") || strings.Contains(rules, iptRuleText(other)+"\n") {
		return st, fmt.Errorf("iptables INPUT does not have version %s of the changed rule (%s)", version, iptRuleText(want))
	}
	return st, nil
}

// scrub empties the namespace's netfilter state before it is deleted, so
// that the kernel's freeing happens now (untimed) rather than in the
// background during the next measurement.
func (b *bench) scrub(n *netns) {
	n.output("nft", "flush", "ruleset")
	if b.ipsetOK {
		n.output("ipset", "destroy")
	}
}
