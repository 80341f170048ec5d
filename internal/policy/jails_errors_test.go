package policy

import "testing"

// jailErrorCases are the mistakes of the jails section.
var jailErrorCases = []errorCase{
	{"jails not a mapping", "version: 1\njails: [sshd]\n", `seawall.yaml:2:8: "jails": expected a mapping, got a list`},
	{"jail bad name", "version: 1\njails:\n  1ssh: {logs: {file: /var/log/auth.log}, filter: sshd}\n", `seawall.yaml:3:3: "jails.1ssh": invalid name "1ssh"; a name starts with a letter and has at most 40 letters, digits, '_' and '-'`},
	{"jail unknown key", "version: 1\njails:\n  sshd:\n    logs: {file: /var/log/auth.log}\n    filter: sshd\n    maxretries: 3\n", `seawall.yaml:6:5: "jails.sshd.maxretries": unknown key "maxretries"; allowed keys: logs, filter, match, maxretry, findtime, bantime, increment, ignore, scope`},
	{"jail missing logs", "version: 1\njails:\n  sshd:\n    filter: sshd\n", `seawall.yaml:3:3: "jails.sshd": missing required key "logs"`},
	{"jail no filter", "version: 1\njails:\n  sshd:\n    logs: {file: /var/log/auth.log}\n", `seawall.yaml:3:3: "jails.sshd": missing filter or match: say which log lines are failures`},
	{"jail filter and match", "version: 1\njails:\n  sshd:\n    logs: {file: /var/log/auth.log}\n    filter: sshd\n    match: ['^<HOST> x']\n", `seawall.yaml:6:5: "jails.sshd.match": a jail has either filter or match, not both`},
	{"match without host", "version: 1\njails:\n  web:\n    logs: {file: /var/log/nginx/access.log}\n    match: ['^\\S+ 404']\n", `seawall.yaml:5:13: "jails.web.match[0]": pattern "^\\S+ 404" has no <HOST>: it must say where the address is`},
	{"logs two kinds", "version: 1\njails:\n  sshd:\n    logs: {file: /var/log/auth.log, journal: ssh.service}\n    filter: sshd\n", `seawall.yaml:4:37: "jails.sshd.logs.journal": a log source has one of file, journal and container (file and journal); write a list for several`},
	{"logs unknown kind", "version: 1\njails:\n  sshd:\n    logs: {fiel: /var/log/auth.log}\n    filter: sshd\n", `seawall.yaml:4:12: "jails.sshd.logs.fiel": unknown key "fiel" (did you mean "file"?); allowed keys: file, journal, container
seawall.yaml:4:12: "jails.sshd.logs": a log source needs one of file, journal and container`},
	{"logs empty", "version: 1\njails:\n  sshd:\n    logs: {}\n    filter: sshd\n", `seawall.yaml:4:11: "jails.sshd.logs": a log source needs one of file, journal and container`},
	{"logs container bad selector", "version: 1\njails:\n  web:\n    logs: {container: {nmae: nginx}}\n    filter: nginx-http-auth\n", `seawall.yaml:4:24: "jails.web.logs.container.nmae": unknown key "nmae" (did you mean "name"?); allowed keys: name, compose, label, image`},
	{"journal bad match", "version: 1\njails:\n  sshd:\n    logs: {journal: [ssh.service, 'comm=sshd']}\n    filter: sshd\n", `seawall.yaml:4:35: "jails.sshd.logs.journal[1]": invalid journal match "comm=sshd"; want FIELD=VALUE with an upper-case field, like SYSLOG_IDENTIFIER=sshd`},
	{"journal bad unit", "version: 1\njails:\n  sshd:\n    logs: {journal: '-x'}\n    filter: sshd\n", `seawall.yaml:4:21: "jails.sshd.logs.journal": invalid systemd unit "-x"`},
	{"maxretry zero", "version: 1\njails:\n  sshd:\n    logs: {file: /a}\n    filter: sshd\n    maxretry: 0\n", `seawall.yaml:6:15: "jails.sshd.maxretry": 0 out of range: want 1 to 1000000`},
	{"maxretry string", "version: 1\njails:\n  sshd:\n    logs: {file: /a}\n    filter: sshd\n    maxretry: five\n", `seawall.yaml:6:15: "jails.sshd.maxretry": expected an integer, got a string`},
	{"findtime bad", "version: 1\njails:\n  sshd:\n    logs: {file: /a}\n    filter: sshd\n    findtime: 10 minutes\n", `seawall.yaml:6:15: "jails.sshd.findtime": invalid duration "10 minutes"; want a number of seconds or e.g. 30s, 10m, 1h30m, 1d, 1w`},
	{"findtime permanent", "version: 1\njails:\n  sshd:\n    logs: {file: /a}\n    filter: sshd\n    findtime: permanent\n", `seawall.yaml:6:15: "jails.sshd.findtime": invalid duration "permanent"; want a number of seconds or e.g. 30s, 10m, 1h30m, 1d, 1w`},
	{"bantime zero", "version: 1\njails:\n  sshd:\n    logs: {file: /a}\n    filter: sshd\n    bantime: 0s\n", `seawall.yaml:6:14: "jails.sshd.bantime": duration "0s" must be positive`},
	{"bantime unit", "version: 1\njails:\n  sshd:\n    logs: {file: /a}\n    filter: sshd\n    bantime: 1y\n", `seawall.yaml:6:14: "jails.sshd.bantime": invalid duration "1y"; want a number of seconds or e.g. 30s, 10m, 1h30m, 1d, 1w, or "permanent"`},
	{"bantime too long", "version: 1\njails:\n  sshd:\n    logs: {file: /a}\n    filter: sshd\n    bantime: 600w\n", `seawall.yaml:6:14: "jails.sshd.bantime": duration "600w" is longer than ten years`},
	{"increment factor", "version: 1\njails:\n  sshd:\n    logs: {file: /a}\n    filter: sshd\n    increment: {factor: 0.5}\n", `seawall.yaml:6:25: "jails.sshd.increment.factor": factor 0.5 out of range: want 1 to 1000`},
	{"increment max short", "version: 1\njails:\n  sshd:\n    logs: {file: /a}\n    filter: sshd\n    bantime: 1h\n    increment: {factor: 2, max: 10m}\n", `seawall.yaml:7:5: "jails.sshd.increment.max": increment max 10m is shorter than bantime 1h`},
	{"scope bad", "version: 1\njails:\n  sshd:\n    logs: {file: /a}\n    filter: sshd\n    scope: hosts\n", `seawall.yaml:6:12: "jails.sshd.scope": unknown scope "hosts" (did you mean "host"?); want host, containers or all`},
	{"ignore unknown group", "version: 1\ngroups:\n  office: [192.0.2.0/24]\njails:\n  sshd:\n    logs: {file: /a}\n    filter: sshd\n    ignore: [ofice]\n", `seawall.yaml:8:14: "jails.sshd.ignore[0]": unknown group or set "ofice" (did you mean "office"?)`},
	{"ignore container", "version: 1\njails:\n  sshd:\n    logs: {file: /a}\n    filter: sshd\n    ignore: ['container:web']\n", `seawall.yaml:6:14: "jails.sshd.ignore[0]": container references are only allowed in the from and to of rules`},
	{"filter options unclosed", "version: 1\njails:\n  sshd:\n    logs: {file: /a}\n    filter: 'sshd[mode=aggressive'\n", `seawall.yaml:5:13: "jails.sshd.filter": invalid filter "sshd[mode=aggressive": options must end with ]`},
}

func TestJailErrors(t *testing.T) {
	runErrorCases(t, jailErrorCases)
}
