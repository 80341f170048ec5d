package compile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/seawall/seawall/internal/inventory"
	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
)

// Container rules (docs/containers.md). The policy decides the chains: an
// ingress and an egress chain per entry of the containers section, one pair
// for containers no entry selects, one pair for containers whose seawall.*
// labels do not parse (denied both ways). Docker decides membership: verdict
// maps from a container's addresses to its entry's chains, and sets of the
// addresses `container:X` names, so a container start is an element update.

// Names of the container dispatch objects.
const (
	mapIn       = "ctr_in"      // + _v4/_v6: address → jump to the entry's ingress chain
	mapOut      = "ctr_out"     // + _v4/_v6: address → jump to the entry's egress chain
	mapPub      = "ctr_pub"     // + _tcp/_udp: published host port → jump to the entry's ingress chain
	setNets     = "docker_nets" // + _v4/_v6: the subnets of Docker's bridge networks
	setKnown    = "ctr_addrs"   // + _v4/_v6: the addresses the verdict maps hold
	keyDefault  = "default"
	keyDenied   = "denied"
	labelPrefix = "lbl_"
)

// Assignment says which policy entry governs a container.
type Assignment struct {
	Container *inventory.Container
	// Key is the stem of the entry's chains (ctr_KEY_in, ctr_KEY_out): an
	// entry name, "lbl_<hash>" for a label entry, "default" or "denied".
	Key    string
	Entry  *policy.ContainerEntry // the file or label entry; nil for default and denied
	Source string                 // "file", "label", "default" or "denied"
	Err    error                  // why a container is denied (its labels do not parse)
}

// Assign decides, for every container, the entry that governs it: the first
// file entry whose selector matches, else its seawall.* labels (the central
// file wins where both speak), else containers.default. A container whose
// labels do not parse is denied both ways until they are fixed: its owner
// meant to restrict it.
func Assign(p *policy.Policy, f *inventory.Facts) []Assignment {
	var entries []*policy.ContainerEntry
	if p.Containers != nil {
		entries = p.Containers.Entries
	}
	var out []Assignment
	for _, ctr := range f.Sorted().Containers {
		a := Assignment{Container: ctr, Key: keyDefault, Source: "default"}
		if p.Containers == nil {
			out = append(out, a)
			continue
		}
		for _, e := range entries {
			if e.Select.Matches(ctr.Name, ctr.Image, ctr.Project, ctr.Service, ctr.Labels) {
				a.Key, a.Entry, a.Source = e.Name, e, "file"
				break
			}
		}
		if a.Entry == nil && hasSeawallLabels(ctr.Labels) {
			e, err := policy.ParseLabels(p, ctr.Name, ctr.Labels)
			switch {
			case err != nil:
				a.Key, a.Source, a.Err = keyDenied, "denied", err
			case e != nil:
				a.Key, a.Entry, a.Source = labelPrefix+labelHash(ctr.Labels), e, "label"
			}
		}
		out = append(out, a)
	}
	return out
}

func hasSeawallLabels(labels map[string]string) bool {
	for k := range labels {
		if strings.HasPrefix(k, "seawall.") {
			return true
		}
	}
	return false
}

// labelHash names a label entry by its content, so that containers with the
// same labels share chains and a restart does not change the ruleset.
func labelHash(labels map[string]string) string {
	var keys []string
	for k := range labels {
		if strings.HasPrefix(k, "seawall.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, labels[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}

func ctrChain(key, dir string) string { return "ctr_" + key + "_" + dir }

// containers adds the entry chains, maps and sets.
func (c *compiler) containers(f *inventory.Facts) {
	assigned := Assign(c.p, f)
	c.selectorSets(assigned)
	c.dnsSets(f)
	cs := c.p.Containers
	if cs == nil {
		return
	}
	c.entryChains(keyDefault, nil, cs.Default, c.origin(cs.Default.Pos, "containers.default"))
	c.deniedChains()
	for _, e := range cs.Entries {
		c.entryChains(e.Name, e, effectiveDefault(cs.Default, e.Default), c.origin(e.Pos, "containers."+e.Name))
	}
	done := map[string]bool{}
	for _, a := range assigned {
		if a.Source == "label" && !done[a.Key] {
			done[a.Key] = true
			o := ruleset.Origin{What: fmt.Sprintf("labels of container %s", a.Container.Name)}
			c.entryChains(a.Key, a.Entry, effectiveDefault(cs.Default, a.Entry.Default), o)
		}
	}
	c.dispatchMaps(assigned)
	var nets []netip.Prefix
	for _, n := range f.Sorted().Networks {
		if n.Driver == "bridge" {
			nets = append(nets, n.Subnets...)
		}
	}
	c.addSetPair(setNets, cs.Pos, "docker bridge networks", nets)
	var known []netip.Prefix
	for _, a := range assigned {
		for _, addr := range a.Container.Addrs() {
			known = append(known, netip.PrefixFrom(addr, addr.BitLen()))
		}
	}
	c.addSetPair(setKnown, cs.Pos, "container addresses", known)
}

func effectiveDefault(base policy.ContainerDefault, d *policy.ContainerDefault) policy.ContainerDefault {
	if d == nil {
		return base
	}
	return *d
}

// entryChains builds an entry's ingress chain (allows accept) and egress
// chain (allows return, so that traffic to another container still meets
// that container's ingress).
func (c *compiler) entryChains(key string, e *policy.ContainerEntry, def policy.ContainerDefault, o ruleset.Origin) {
	var ingress, egress []*policy.Rule
	what := "containers." + key + "."
	if e != nil {
		ingress, egress = e.Ingress, e.Egress
		if strings.HasPrefix(key, labelPrefix) {
			what = "" // the comment names the container and its label
		}
	}
	in := &chainBuilder{c: c, name: "ingress", dir: key + "_in", what: what + "ingress", allow: ruleset.Accept,
		published: true, deny: def.Ingress != policy.IngressPublished}
	in.entryRules(ingress, o, def.Ingress == policy.IngressReject, fmt.Sprintf("seawall ctr %s in drop", key))
	out := &chainBuilder{c: c, name: "egress", dir: key + "_out", what: what + "egress", allow: ruleset.Return,
		iface: ruleset.Dst, deny: def.Egress != policy.EgressAllow}
	out.entryRules(egress, o, def.Egress == policy.EgressReject, fmt.Sprintf("seawall ctr %s out drop", key))
	c.rs.Chains = append(c.rs.Chains,
		&ruleset.Chain{Name: ctrChain(key, "in"), Rules: in.rules},
		&ruleset.Chain{Name: ctrChain(key, "out"), Rules: out.rules})
}

// entryRules adds an entry's rules and then its default: the chain's allow
// verdict when the default is open, else a logged drop or reject.
func (b *chainBuilder) entryRules(rules []*policy.Rule, o ruleset.Origin, reject bool, logPrefix string) {
	c := b.c
	for _, r := range rules {
		b.userRule(r)
	}
	if !b.deny {
		b.add(c.rule(o, b.allow))
		return
	}
	b.add(c.logRule(o, logPrefix))
	b.add(c.denyRules(o, reject, 0)...)
}

// deniedChains hold containers whose labels do not parse: denied both ways.
func (c *compiler) deniedChains() {
	o := ruleset.Origin{What: "containers whose seawall labels do not parse"}
	for _, dir := range []string{"in", "out"} {
		var rules []*ruleset.Rule
		rules = appendRules(rules, c.logRule(o, "seawall ctr "+dir+" bad-labels"))
		rules = append(rules, c.rule(o, ruleset.Drop))
		c.rs.Chains = append(c.rs.Chains, &ruleset.Chain{Name: ctrChain(keyDenied, dir), Rules: rules})
	}
}

// dispatchMaps fills the verdict maps from the assignments.
func (c *compiler) dispatchMaps(as []Assignment) {
	o := ruleset.Origin{What: "container addresses"}
	for _, m := range []struct{ name, dir string }{{mapIn, "in"}, {mapOut, "out"}} {
		for _, f := range ruleset.Families {
			set := &ruleset.Set{Name: setName(m.name, f), Key: ruleset.AddrKey(f), Map: true, Origin: o}
			seen := map[netip.Addr]bool{}
			for _, a := range as {
				for _, addr := range a.Container.Addrs() {
					if familyOf(addr) != f || seen[addr] {
						continue
					}
					seen[addr] = true
					set.Elements = append(set.Elements, ruleset.Element{First: addr, Last: addr, Jump: ctrChain(a.Key, m.dir)})
				}
			}
			sort.Slice(set.Elements, func(i, j int) bool { return set.Elements[i].First.Less(set.Elements[j].First) })
			c.rs.Sets = append(c.rs.Sets, set)
		}
	}
	// Published ports, for connections docker-proxy accepts on the host
	// (IPv6 to an IPv4-only container, hairpin): they reach input on the
	// host port, and go through the same entry chain. A host port that two
	// containers publish (on different host addresses) goes to the first.
	for _, proto := range []string{"tcp", "udp"} {
		set := &ruleset.Set{Name: mapPub + "_" + proto, Key: ruleset.KeyPort, Map: true, Origin: o}
		seen := map[uint16]bool{}
		for _, a := range as {
			for _, p := range a.Container.Ports {
				if p.Proto != proto || seen[p.HostPort] {
					continue
				}
				seen[p.HostPort] = true
				set.Elements = append(set.Elements, ruleset.Element{Port: p.HostPort, Jump: ctrChain(a.Key, "in")})
			}
		}
		sort.Slice(set.Elements, func(i, j int) bool { return set.Elements[i].Port < set.Elements[j].Port })
		c.rs.Sets = append(c.rs.Sets, set)
	}
}

// selectorSets fills a set for every `container:X` the policy names: the
// containers entry X governs, or else the containers named X or running
// compose service X.
func (c *compiler) selectorSets(as []Assignment) {
	for _, name := range c.containerRefs() {
		var addrs []netip.Prefix
		for _, a := range as {
			ctr := a.Container
			if a.Key == name || (c.p.Containers.Entry(name) == nil && (ctr.Name == name || ctr.Service == name)) {
				// (Entry is nil-safe: without a containers section, X is
				// a container name or compose service.)
				for _, addr := range ctr.Addrs() {
					addrs = append(addrs, netip.PrefixFrom(addr, addr.BitLen()))
				}
			}
		}
		c.addSetPair(selectorSet(name), policy.Pos{}, "container:"+name, addrs)
	}
}

// dnsSets fills a set for every DNS name the policy names, from the
// addresses the daemon resolved.
func (c *compiler) dnsSets(f *inventory.Facts) {
	for _, name := range c.dnsRefs() {
		var addrs []netip.Prefix
		if f != nil {
			for _, a := range f.Resolved[name] {
				addrs = append(addrs, netip.PrefixFrom(a, a.BitLen()))
			}
		}
		c.addSetPair(dnsSet(name), policy.Pos{}, "dns:"+name, addrs)
	}
}

func selectorSet(name string) string { return "ctrsel_" + boundedName(name) }
func dnsSet(name string) string      { return "dns_" + boundedName(name) }

// boundedName keeps a kernel set name short: long names are cut and made
// unique with a hash.
func boundedName(name string) string {
	if len(name) <= 64 {
		return name
	}
	h := sha256.Sum256([]byte(name))
	return name[:48] + "_" + hex.EncodeToString(h[:])[:8]
}

// containerRefs and dnsRefs list the `container:X` and DNS names the
// policy's rules use.
func (c *compiler) containerRefs() []string { return c.p.Names(policy.ContainerRef) }
func (c *compiler) dnsRefs() []string       { return c.p.Names(policy.DNSRef) }

// containerDispatch sends traffic of containers to their entries' chains;
// it runs after the built-ins (established traffic is already accepted).
//   - forward: the source's egress (allow returns), then the destination's
//     ingress (allow accepts); an address in a Docker network that is in
//     neither map is a container seawall has not reconciled: denied (fail
//     closed); traffic from a container its egress allowed, to anything but
//     another container, is accepted.
//   - input: a container's traffic to the host meets its egress first, then
//     the host's rules; a connection to a published host port (docker-proxy
//     accepts those the kernel does not DNAT: IPv6 to an IPv4-only
//     container, hairpin) meets the container's ingress.
func (b *chainBuilder) containerDispatch() {
	c := b.c
	if c.p.Containers == nil || (b.name != ChainForward && b.name != ChainInput) {
		return
	}
	o := ruleset.Origin{What: "container dispatch"}
	unknown := ruleset.Origin{What: "container not reconciled yet"}
	for _, f := range ruleset.Families {
		b.add(c.rule(o, ruleset.Vmap(f, ruleset.Src, setName(mapOut, f))))
	}
	if b.name == ChainForward {
		for _, f := range ruleset.Families {
			b.add(c.rule(o, ruleset.Vmap(f, ruleset.Dst, setName(mapIn, f))))
		}
	} else {
		b.add(c.rule(o, ruleset.PortVmap(ruleset.ProtoTCP, mapPub+"_tcp")))
		b.add(c.rule(o, ruleset.PortVmap(ruleset.ProtoUDP, mapPub+"_udp")))
	}
	for _, f := range ruleset.Families {
		for _, d := range []ruleset.Dir{ruleset.Dst, ruleset.Src} {
			if d == ruleset.Dst && b.name != ChainForward {
				continue
			}
			nets := ruleset.Addr{Family: f, Dir: d, Set: setName(setNets, f)}
			notKnown := ruleset.Addr{Family: f, Dir: d, Set: setName(setKnown, f), Neg: true}
			b.add(c.logRule(unknown, fmt.Sprintf("seawall %s unreconciled", b.dir), nets, notKnown))
			b.add(c.rule(unknown, ruleset.Drop, nets, notKnown))
		}
	}
	if b.name == ChainForward {
		for _, f := range ruleset.Families {
			b.add(c.rule(o, ruleset.Accept, ruleset.Addr{Family: f, Dir: ruleset.Src, Set: setName(setNets, f)}))
		}
	}
}
