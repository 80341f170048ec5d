package policy

import (
	"errors"
	"strings"
	"testing"
)

// errorCases has one case per kind of mistake. Snippets are policy files;
// want is the whole error text, one error per line.
var errorCases = []errorCase{
	// YAML level.
	{"syntax", "version: 1\nhost: [input\n",
		`seawall.yaml:2:7: yaml: sequence end token ']' not found`},
	{"tab", "version: 1\n\thost: {}\n",
		"seawall.yaml:2:1: yaml: found character '\t' that cannot start any token"},
	{"two documents", "version: 1\n---\nversion: 1\n",
		`seawall.yaml:3:1: multiple YAML documents are not supported`},
	{"not a mapping", "- version: 1\n",
		`seawall.yaml:1:1: expected a mapping, got a list`},
	{"empty file", "",
		`seawall.yaml:1:1: missing required key "version"`},
	{"anchor", "version: 1\ngroups:\n  a: &x [10.0.0.1]\n",
		`seawall.yaml:3:6: "groups.a": YAML anchors and aliases are not supported`},
	{"alias", "version: 1\ngroups:\n  a: [10.0.0.1]\n  b: *x\n",
		`seawall.yaml:4:6: "groups.b": YAML anchors and aliases are not supported`},
	{"tag", "version: 1\nhost:\n  deny: !!str drop\n",
		`seawall.yaml:3:9: "host.deny": YAML tags are not supported`},
	{"merge key", "version: 1\nhost:\n  <<: {deny: drop}\n",
		`seawall.yaml:3:3: "host": YAML merge keys are not supported`},
	{"complex key", "version: 1\nhost:\n  ? deny\n  : silent\n",
		`seawall.yaml:4:5: "host.deny": invalid deny mode "silent"; want drop or reject`},
	{"duplicate key", "version: 1\nhost:\n  deny: drop\n  deny: reject\n",
		`seawall.yaml:4:3: "host.deny": duplicate key (first defined at 3:3)`},
	{"duplicate top key", "version: 1\nversion: 1\n",
		`seawall.yaml:2:1: "version": duplicate key (first defined at 1:1)`},
	// Top level.
	{"missing version", "host: {}\n",
		`seawall.yaml:1:1: missing required key "version"`},
	{"version 2", "version: 2\n",
		`seawall.yaml:1:10: "version": unsupported version 2; want 1`},
	{"version string", "version: \"1\"\n",
		`seawall.yaml:1:10: "version": expected an integer, got a string`},
	{"unknown top key", "version: 1\nhots: {}\n",
		`seawall.yaml:2:1: "hots": unknown key "hots" (did you mean "host"?); allowed keys: version, groups, sets, host, containers, jails`},
	// Groups and sets.
	{"groups not a mapping", "version: 1\ngroups: [a, b]\n",
		`seawall.yaml:2:9: "groups": expected a mapping, got a list`},
	{"bad group name", "version: 1\ngroups:\n  1office: [10.0.0.1]\n",
		`seawall.yaml:3:3: "groups.1office": invalid name "1office"; a name starts with a letter and has at most 40 letters, digits, '_' and '-'`},
	{"long group name", "version: 1\ngroups:\n  " + strings.Repeat("a", 41) + ": []\n",
		`seawall.yaml:3:3: "groups.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": invalid name "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; a name starts with a letter and has at most 40 letters, digits, '_' and '-'`},
	{"reserved name", "version: 1\ngroups:\n  any: [10.0.0.1]\n",
		`seawall.yaml:3:3: "groups.any": name "any" is reserved`},
	{"group and set same name", "version: 1\ngroups:\n  x: []\nsets:\n  x: {}\n",
		`seawall.yaml:5:3: "sets.x": name "x" is already used by the group at 3:3`},
	{"set and group same name", "version: 1\nsets:\n  x: {}\ngroups:\n  x: []\n",
		`seawall.yaml:5:3: "groups.x": name "x" is already used by the set at 3:3`},
	{"group member mapping", "version: 1\ngroups:\n  a: {b: c}\n",
		`seawall.yaml:3:7: "groups.a": expected an address, CIDR or group name, got a mapping`},
	{"group member set", "version: 1\ngroups:\n  a: [s]\nsets:\n  s: {}\n",
		`seawall.yaml:3:7: "groups.a[0]": set "s" cannot be a group member`},
	{"group member unknown", "version: 1\ngroups:\n  office: [10.0.0.1]\n  b: [ofice]\n",
		`seawall.yaml:4:7: "groups.b[0]": unknown group "ofice" (did you mean "office"?)`},
	{"group member any", "version: 1\ngroups:\n  a: [any]\n",
		`seawall.yaml:3:7: "groups.a[0]": "any" cannot be a group member`},
	{"group cycle", "version: 1\ngroups:\n  a: [b]\n  b: [c]\n  c: [a]\n",
		`seawall.yaml:5:7: "groups.c[0]": group cycle: a -> b -> c -> a`},
	{"group self cycle", "version: 1\ngroups:\n  a: [10.0.0.1, a]\n",
		`seawall.yaml:3:17: "groups.a[1]": group cycle: a -> a`},
	{"set not a mapping", "version: 1\nsets:\n  s: [10.0.0.1]\n",
		`seawall.yaml:3:6: "sets.s": expected a mapping, got a list`},
	{"set unknown key", "version: 1\nsets:\n  s: {entry: [10.0.0.1]}\n",
		`seawall.yaml:3:7: "sets.s.entry": unknown key "entry"; allowed keys: entries, files`},
	{"set entry name", "version: 1\ngroups:\n  g: []\nsets:\n  s: {entries: [g]}\n",
		`seawall.yaml:5:17: "sets.s.entries[0]": set entries must be addresses or CIDRs, not names ("g")`},
	{"set entry bad", "version: 1\nsets:\n  s: {entries: [10.0.0.256]}\n",
		`seawall.yaml:3:17: "sets.s.entries[0]": invalid IP address "10.0.0.256"`},
	{"set empty file", "version: 1\nsets:\n  s: {files: [\"\"]}\n",
		`seawall.yaml:3:15: "sets.s.files[0]": empty file path`},
	{"set files int", "version: 1\nsets:\n  s: {files: [1]}\n",
		`seawall.yaml:3:15: "sets.s.files[0]": expected a file path, got an integer`},
	// Host settings.
	{"host not a mapping", "version: 1\nhost: drop\n",
		`seawall.yaml:2:7: "host": expected a mapping, got a string`},
	{"host unknown key", "version: 1\nhost:\n  inptu: []\n",
		`seawall.yaml:3:3: "host.inptu": unknown key "inptu" (did you mean "input"?); allowed keys: policy, deny, log, input, output, forward, redirect`},
	{"policy bad verdict", "version: 1\nhost:\n  policy: {input: reject}\n",
		`seawall.yaml:3:19: "host.policy.input": invalid policy "reject"; want drop or accept`},
	{"policy unknown key", "version: 1\nhost:\n  policy: {in: drop}\n",
		`seawall.yaml:3:12: "host.policy.in": unknown key "in"; allowed keys: input, output, forward`},
	{"policy not a mapping", "version: 1\nhost:\n  policy: drop\n",
		`seawall.yaml:3:11: "host.policy": expected a mapping, got a string`},
	{"deny bad", "version: 1\nhost:\n  deny: silent\n",
		`seawall.yaml:3:9: "host.deny": invalid deny mode "silent"; want drop or reject`},
	{"log dropped not bool", "version: 1\nhost:\n  log: {dropped: \"yes\"}\n",
		`seawall.yaml:3:18: "host.log.dropped": expected true or false, got a string`},
	{"log rate bad", "version: 1\nhost:\n  log: {rate: 10/fortnight}\n",
		`seawall.yaml:3:15: "host.log.rate": invalid rate "10/fortnight"; want N/second, N/minute, N/hour, N/day or N/week`},
	{"log unknown key", "version: 1\nhost:\n  log: {rates: 1/second}\n",
		`seawall.yaml:3:9: "host.log.rates": unknown key "rates" (did you mean "rate"?); allowed keys: dropped, rate`},
	// Rules.
	{"rules not a list", "version: 1\nhost:\n  input: {allow: ssh}\n",
		`seawall.yaml:3:11: "host.input": expected a list of rules, got a mapping`},
	{"rule not a mapping", "version: 1\nhost:\n  input:\n    - ssh\n",
		`seawall.yaml:4:7: "host.input[0]": expected a mapping, got a string`},
	{"rule no action", "version: 1\nhost:\n  input:\n    - from: 10.0.0.1\n",
		`seawall.yaml:4:7: "host.input[0]": rule has no action (allow, deny, reject or drop)`},
	{"rule empty", "version: 1\nhost:\n  input:\n    - {}\n",
		`seawall.yaml:4:7: "host.input[0]": rule has no action (allow, deny, reject or drop)`},
	{"rule two actions", "version: 1\nhost:\n  input:\n    - allow: ssh\n      deny: http\n",
		`seawall.yaml:5:7: "host.input[0].deny": rule has more than one action (allow and deny)`},
	{"rule unknown key", "version: 1\nhost:\n  output:\n    - allow: ssh\n      form: 10.0.0.1\n",
		`seawall.yaml:5:7: "host.output[0].form": unknown key "form" (did you mean "from"?); allowed keys: allow, deny, reject, drop, from, to, iface, limit, log, comment`},
	{"unknown service", "version: 1\nhost:\n  input:\n    - allow: shh\n",
		`seawall.yaml:4:14: "host.input[0].allow": unknown service "shh" (did you mean "ssh"?); use a service name or PROTO/PORTS like tcp/22`},
	{"unknown service far", "version: 1\nhost:\n  input:\n    - allow: [ssh, telnet]\n",
		`seawall.yaml:4:20: "host.input[0].allow[1]": unknown service "telnet"; use a service name or PROTO/PORTS like tcp/22`},
	{"service integer", "version: 1\nhost:\n  input:\n    - allow: 22\n",
		`seawall.yaml:4:14: "host.input[0].allow": expected a service like ssh or tcp/22, got an integer; write ports as tcp/N or udp/N, and quote port lists inside [ ], e.g. "tcp/80,443"`},
	{"service null", "version: 1\nhost:\n  input:\n    - allow:\n",
		`seawall.yaml:4:14: "host.input[0].allow": expected a service like ssh or tcp/22 or a list of them, got null`},
	{"service port list in flow list", "version: 1\nhost:\n  input:\n    - allow: [tcp/80,443]\n",
		`seawall.yaml:4:22: "host.input[0].allow[1]": expected a service like ssh or tcp/22, got an integer; write ports as tcp/N or udp/N, and quote port lists inside [ ], e.g. "tcp/80,443"`},
	{"service empty list", "version: 1\nhost:\n  input:\n    - allow: []\n",
		`seawall.yaml:4:14: "host.input[0].allow": empty list`},
	{"service any combined", "version: 1\nhost:\n  input:\n    - deny: [ssh, any]\n",
		`seawall.yaml:4:19: "host.input[0].deny[1]": "any" cannot be combined with other services`},
	{"port zero", "version: 1\nhost:\n  input:\n    - allow: tcp/0\n",
		`seawall.yaml:4:14: "host.input[0].allow": port 0 out of range 1-65535`},
	{"port too big", "version: 1\nhost:\n  input:\n    - allow: udp/65536\n",
		`seawall.yaml:4:14: "host.input[0].allow": port 65536 out of range 1-65535`},
	{"port not a number", "version: 1\nhost:\n  input:\n    - allow: tcp/ssh\n",
		`seawall.yaml:4:14: "host.input[0].allow": invalid port "ssh"`},
	{"port empty", "version: 1\nhost:\n  input:\n    - allow: tcp/80,\n",
		`seawall.yaml:4:14: "host.input[0].allow": empty port in "tcp/80,"`},
	{"port missing", "version: 1\nhost:\n  input:\n    - allow: tcp/\n",
		`seawall.yaml:4:14: "host.input[0].allow": missing ports after "tcp/"`},
	{"port range reversed", "version: 1\nhost:\n  input:\n    - allow: tcp/200-100\n",
		`seawall.yaml:4:14: "host.input[0].allow": port range "200-100" is reversed; write 100-200`},
	{"unknown protocol", "version: 1\nhost:\n  input:\n    - allow: sctp/22\n",
		`seawall.yaml:4:14: "host.input[0].allow": unknown protocol "sctp" in "sctp/22"; want tcp or udp`},
	{"icmp with ports", "version: 1\nhost:\n  input:\n    - allow: icmp/8\n",
		`seawall.yaml:4:14: "host.input[0].allow": protocol "icmp" has no ports`},
	{"address invalid", "version: 1\nhost:\n  input:\n    - allow: ssh\n      from: 10.0.0.300\n",
		`seawall.yaml:5:13: "host.input[0].from": invalid IP address "10.0.0.300"`},
	{"address or name invalid", "version: 1\nhost:\n  input:\n    - allow: ssh\n      from: my_host!\n",
		`seawall.yaml:5:13: "host.input[0].from": invalid address, CIDR or name "my_host!"`},
	{"cidr invalid", "version: 1\nhost:\n  input:\n    - allow: ssh\n      from: 10.0.0.0/33\n",
		`seawall.yaml:5:13: "host.input[0].from": invalid CIDR "10.0.0.0/33"`},
	{"host bits set", "version: 1\nhost:\n  input:\n    - allow: ssh\n      from: 10.0.0.1/8\n",
		`seawall.yaml:5:13: "host.input[0].from": host bits set; did you mean 10.0.0.0/8`},
	{"host bits set v6", "version: 1\nhost:\n  input:\n    - allow: ssh\n      to: [\"2001:db8::1/32\"]\n",
		`seawall.yaml:5:12: "host.input[0].to[0]": host bits set; did you mean 2001:db8::/32`},
	{"address zone", "version: 1\nhost:\n  input:\n    - allow: ssh\n      from: \"fe80::1%eth0\"\n",
		`seawall.yaml:5:13: "host.input[0].from": address "fe80::1%eth0" has a zone; zones are not allowed`},
	{"address any combined", "version: 1\nhost:\n  input:\n    - allow: ssh\n      from: [10.0.0.1, any]\n",
		`seawall.yaml:5:24: "host.input[0].from[1]": "any" cannot be combined with other addresses`},
	{"address null", "version: 1\nhost:\n  input:\n    - allow: ssh\n      from:\n",
		`seawall.yaml:5:13: "host.input[0].from": expected an address, CIDR, group or set name or a list of them, got null`},
	{"address mapping", "version: 1\nhost:\n  input:\n    - allow: ssh\n      from: {a: b}\n",
		`seawall.yaml:5:14: "host.input[0].from": expected an address, CIDR, group or set name, got a mapping`},
	{"unknown name", "version: 1\ngroups:\n  office: []\nhost:\n  input:\n    - allow: ssh\n      from: ofice\n",
		`seawall.yaml:7:13: "host.input[0].from": unknown group or set "ofice" (did you mean "office"?)`},
	{"unknown name far", "version: 1\ngroups:\n  office: []\nhost:\n  input:\n    - allow: ssh\n      from: [home]\n",
		`seawall.yaml:7:14: "host.input[0].from[0]": unknown group or set "home"`},
	{"limit with deny", "version: 1\nhost:\n  input:\n    - deny: ssh\n      limit: 4/minute\n",
		`seawall.yaml:5:7: "host.input[0].limit": limit is only allowed with allow, not deny`},
	{"limit bad", "version: 1\nhost:\n  input:\n    - allow: ssh\n      limit: 4/m\n",
		`seawall.yaml:5:14: "host.input[0].limit": invalid rate "4/m"; want N/second, N/minute, N/hour, N/day or N/week`},
	{"limit zero", "version: 1\nhost:\n  input:\n    - allow: ssh\n      limit: 0/second\n",
		`seawall.yaml:5:14: "host.input[0].limit": invalid rate "0/second"; the count must be at least 1`},
	{"limit no unit", "version: 1\nhost:\n  input:\n    - allow: ssh\n      limit: 4\n",
		`seawall.yaml:5:14: "host.input[0].limit": expected a rate like 4/minute, got an integer`},
	{"log not bool", "version: 1\nhost:\n  input:\n    - deny: ssh\n      log: \"no\"\n",
		`seawall.yaml:5:12: "host.input[0].log": expected true or false, got a string`},
	{"iface bad", "version: 1\nhost:\n  input:\n    - allow: ssh\n      iface: \"eth 0\"\n",
		`seawall.yaml:5:14: "host.input[0].iface": invalid interface name "eth 0"`},
	{"iface wildcard inside", "version: 1\nhost:\n  input:\n    - allow: ssh\n      iface: e*h0\n",
		`seawall.yaml:5:14: "host.input[0].iface": invalid interface name "e*h0"`},
	{"iface too long", "version: 1\nhost:\n  input:\n    - allow: ssh\n      iface: abcdefghijklmnop\n",
		`seawall.yaml:5:14: "host.input[0].iface": interface name "abcdefghijklmnop" is longer than 15 characters`},
	{"comment not string", "version: 1\nhost:\n  input:\n    - allow: ssh\n      comment: [a]\n",
		`seawall.yaml:5:16: "host.input[0].comment": expected a string, got a list`},
	// Redirects.
	{"redirect not a list", "version: 1\nhost:\n  redirect: {port: tcp/22}\n",
		`seawall.yaml:3:14: "host.redirect": expected a list of redirects, got a mapping`},
	{"redirect missing keys", "version: 1\nhost:\n  redirect:\n    - from: 10.0.0.1\n",
		`seawall.yaml:4:7: "host.redirect[0]": missing required key "port"
seawall.yaml:4:7: "host.redirect[0]": missing required key "to"`},
	{"redirect two ports", "version: 1\nhost:\n  redirect:\n    - port: tcp/22,23\n      to: 10.0.0.1:22\n",
		`seawall.yaml:4:13: "host.redirect[0].port": redirect port "tcp/22,23" must be one tcp or udp port, like tcp/22`},
	{"redirect range", "version: 1\nhost:\n  redirect:\n    - port: tcp/22-23\n      to: 10.0.0.1:22\n",
		`seawall.yaml:4:13: "host.redirect[0].port": redirect port "tcp/22-23" must be one tcp or udp port, like tcp/22`},
	{"redirect two protos", "version: 1\nhost:\n  redirect:\n    - port: dns\n      to: 10.0.0.1:53\n",
		`seawall.yaml:4:13: "host.redirect[0].port": redirect port "dns" must be one tcp or udp port, like tcp/22`},
	{"redirect all ports", "version: 1\nhost:\n  redirect:\n    - port: tcp\n      to: 10.0.0.1:22\n",
		`seawall.yaml:4:13: "host.redirect[0].port": redirect port "tcp" must be one tcp or udp port, like tcp/22`},
	{"redirect bad port", "version: 1\nhost:\n  redirect:\n    - port: tcp/x\n      to: 10.0.0.1:22\n",
		`seawall.yaml:4:13: "host.redirect[0].port": invalid port "x"`},
	{"redirect to no port", "version: 1\nhost:\n  redirect:\n    - port: tcp/22\n      to: 10.0.0.1\n",
		`seawall.yaml:5:11: "host.redirect[0].to": invalid address and port "10.0.0.1"; want e.g. 172.17.0.4:8022 or [2001:db8::4]:8022`},
	{"redirect to port zero", "version: 1\nhost:\n  redirect:\n    - port: tcp/22\n      to: 10.0.0.1:0\n",
		`seawall.yaml:5:11: "host.redirect[0].to": port 0 out of range 1-65535`},
	{"redirect to list", "version: 1\nhost:\n  redirect:\n    - port: tcp/22\n      to: [2001:db8::4]\n",
		`seawall.yaml:5:11: "host.redirect[0].to": expected an address and port like 172.17.0.4:8022 or "[2001:db8::4]:8022", got a list`},
	{"redirect unknown key", "version: 1\nhost:\n  redirect:\n    - port: tcp/22\n      to: 10.0.0.1:22\n      not-from: 10.0.0.2\n",
		`seawall.yaml:6:7: "host.redirect[0].not-from": unknown key "not-from" (did you mean "not_from"?); allowed keys: port, from, not_from, to, iface, comment`},
	{"redirect unknown name", "version: 1\nhost:\n  redirect:\n    - port: tcp/22\n      to: 10.0.0.1:22\n      not_from: office\n",
		`seawall.yaml:6:17: "host.redirect[0].not_from": unknown group or set "office"`},
	// Several mistakes are all reported, in file order.
	{"many", "version: 1\nhost:\n  input:\n    - allow: shh\n      from: nowhere\n    - deny: tcp/0\n  policy: {input: reject}\ngroups:\n  1a: []\n",
		`seawall.yaml:4:14: "host.input[0].allow": unknown service "shh" (did you mean "ssh"?); use a service name or PROTO/PORTS like tcp/22
seawall.yaml:5:13: "host.input[0].from": unknown group or set "nowhere"
seawall.yaml:6:13: "host.input[1].deny": port 0 out of range 1-65535
seawall.yaml:7:19: "host.policy.input": invalid policy "reject"; want drop or accept
seawall.yaml:9:3: "groups.1a": invalid name "1a"; a name starts with a letter and has at most 40 letters, digits, '_' and '-'`},
}

// errorCase is a policy with mistakes and the whole error text it gives.
type errorCase struct {
	name, src, want string
}

func TestErrors(t *testing.T) {
	runErrorCases(t, errorCases)
}

// runErrorCases parses each case's policy and compares the error text.
func runErrorCases(t *testing.T, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("seawall.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", p)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, not ErrorList", err)
			}
			if p != nil {
				t.Errorf("Parse returned a policy with an error")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got error\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
