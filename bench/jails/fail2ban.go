package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/seawall/seawall/bench/internal/benchrun"
)

// Debian's fail2ban is never installed: installing it would start a
// fail2ban service that bans in the root namespace's firewall. Its .deb
// (and python3-pyinotify's, which Debian installs with it as a
// Recommends) is downloaded with "apt-get download", unpacked with
// "dpkg -x" into a cache directory, and run from there with the system's
// python3 and PYTHONPATH pointing into the tree. fail2ban needs only the
// standard library; pyinotify gives it the inotify backend a Debian user
// gets.

// Debian packages the benchmark unpacks. The first is required.
var fail2banPackages = []string{"fail2ban", "python3-pyinotify"}

// stampFile, inside an unpacked tree, records the packages and their
// versions; its presence means the tree is complete.
const stampFile = ".seawall-bench-packages"

// fail2banTree is Debian's fail2ban, unpacked.
type fail2banTree struct {
	root     string            // where the packages were unpacked ("/" for an installed fail2ban)
	python   string            // the interpreter
	versions map[string]string // Debian package -> version ("" when unknown)
}

// pythonPath is the tree's Python package directory.
func (t *fail2banTree) pythonPath() string {
	return filepath.Join(t.root, "usr", "lib", "python3", "dist-packages")
}

// etc is the tree's configuration directory (filter.d, action.d, ...).
func (t *fail2banTree) etc() string { return filepath.Join(t.root, "etc", "fail2ban") }

// sshdFilter is the path of fail2ban's sshd filter file.
func (t *fail2banTree) sshdFilter() string { return filepath.Join(t.etc(), "filter.d", "sshd.conf") }

// argv returns the command line that runs one of fail2ban's programs
// (fail2ban-regex, fail2ban-server, fail2ban-client).
func (t *fail2banTree) argv(program string, args ...string) []string {
	return append([]string{t.python, filepath.Join(t.root, "usr", "bin", program)}, args...)
}

// env is the environment of fail2ban's programs.
func (t *fail2banTree) env() []string {
	return append(childEnv(), "PYTHONPATH="+t.pythonPath())
}

// describe names the packages, for the report.
func (t *fail2banTree) describe() string {
	var parts []string
	for _, p := range fail2banPackages {
		if v, ok := t.versions[p]; ok {
			parts = append(parts, strings.TrimSpace(p+" "+v))
		}
	}
	return strings.Join(parts, ", ")
}

// hasPyinotify reports whether the tree's python can import pyinotify,
// which fail2ban's "auto" backend prefers over polling.
func (t *fail2banTree) hasPyinotify(ctx context.Context) bool {
	cmd := exec.CommandContext(ctx, t.python, "-c", "import pyinotify")
	cmd.Env = t.env()
	return cmd.Run() == nil
}

// openFail2ban returns the unpacked fail2ban: root if given, else the
// cached tree under cacheDir, fetched and unpacked first if it is missing
// (or if refetch). It checks that fail2ban-regex runs.
func openFail2ban(ctx context.Context, root, cacheDir, python string, refetch bool) (*fail2banTree, error) {
	t := &fail2banTree{root: root, python: python, versions: map[string]string{}}
	if root == "" {
		var err error
		if t.root, t.versions, err = cachedTree(ctx, filepath.Join(cacheDir, "fail2ban"), python, refetch); err != nil {
			return nil, err
		}
	} else {
		t.versions["fail2ban"] = ""
	}
	argv := t.argv("fail2ban-regex", "-V")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = t.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("fail2ban-regex -V with %s and PYTHONPATH=%s: %v: %s", python, t.pythonPath(), err, bytes.TrimSpace(out))
	}
	if t.versions["fail2ban"] == "" {
		t.versions["fail2ban"] = strings.TrimSpace(string(out))
	}
	return t, nil
}

// cachedTree returns the unpacked tree in dir/tree, fetching it first if
// needed.
func cachedTree(ctx context.Context, dir, python string, refetch bool) (string, map[string]string, error) {
	tree := filepath.Join(dir, "tree")
	if !refetch {
		if v, err := readStamp(tree); err == nil {
			return tree, v, nil
		}
	}
	benchrun.Status("fetching Debian's fail2ban (apt-get download, dpkg -x) into %s", dir)
	debs := filepath.Join(dir, "debs")
	if err := os.RemoveAll(debs); err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", nil, err
	}
	versions := map[string]string{}
	tmp := tree + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", nil, err
	}
	for i, pkg := range fail2banPackages {
		deb, err := aptDownload(ctx, debs, pkg)
		if err == nil {
			versions[pkg], err = unpack(ctx, deb, tmp)
		}
		if err != nil {
			if i == 0 {
				return "", nil, err
			}
			// Optional: without pyinotify fail2ban polls the file.
			fmt.Fprintf(os.Stderr, "bench: note: %v (fail2ban will poll log files)\n", err)
		}
	}
	if err := compilePython(ctx, python, tmp); err != nil {
		return "", nil, err
	}
	if err := writeStamp(tmp, versions); err != nil {
		return "", nil, err
	}
	if err := os.RemoveAll(tree); err != nil {
		return "", nil, err
	}
	if err := os.Rename(tmp, tree); err != nil {
		return "", nil, err
	}
	return tree, versions, nil
}

// aptDownload downloads package pkg's .deb into dir with apt-get download
// (running apt-get update once if the package lists do not know it) and
// returns its path.
func aptDownload(ctx context.Context, dir, pkg string) (string, error) {
	download := func() ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", "download", pkg)
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	out, err := download()
	if err != nil {
		if upd, uerr := exec.CommandContext(ctx, "apt-get", "update").CombinedOutput(); uerr != nil {
			return "", fmt.Errorf("apt-get update: %v: %s", uerr, tail(string(upd), 5))
		}
		if out, err = download(); err != nil {
			return "", fmt.Errorf("apt-get download %s: %v: %s", pkg, err, tail(string(out), 5))
		}
	}
	matches, err := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if err != nil || len(matches) != 1 {
		return "", fmt.Errorf("apt-get download %s: expected one %s_*.deb in %s, found %d", pkg, pkg, dir, len(matches))
	}
	return matches[0], nil
}

// unpack extracts deb into dir with dpkg -x and returns its version.
func unpack(ctx context.Context, deb, dir string) (string, error) {
	if out, err := exec.CommandContext(ctx, "dpkg", "-x", deb, dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg -x %s: %v: %s", deb, err, bytes.TrimSpace(out))
	}
	out, err := exec.CommandContext(ctx, "dpkg-deb", "-f", deb, "Version").Output()
	if err != nil {
		return "", fmt.Errorf("dpkg-deb -f %s Version: %w", deb, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// compilePython byte-compiles the tree's Python modules, as Debian's
// postinst (py3compile) does, so that the first run does not pay for it.
func compilePython(ctx context.Context, python, tree string) error {
	dir := filepath.Join(tree, "usr", "lib", "python3", "dist-packages")
	if out, err := exec.CommandContext(ctx, python, "-m", "compileall", "-q", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("%s -m compileall %s: %v: %s", python, dir, err, tail(string(out), 5))
	}
	return nil
}

func writeStamp(tree string, versions map[string]string) error {
	var b strings.Builder
	for _, p := range fail2banPackages {
		if v, ok := versions[p]; ok {
			fmt.Fprintf(&b, "%s %s\n", p, v)
		}
	}
	return os.WriteFile(filepath.Join(tree, stampFile), []byte(b.String()), 0o644)
}

func readStamp(tree string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(tree, stampFile))
	if err != nil {
		return nil, err
	}
	versions := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		pkg, v, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("%s: bad line %q", stampFile, line)
		}
		versions[pkg] = v
	}
	if _, ok := versions[fail2banPackages[0]]; !ok {
		return nil, errors.New(stampFile + " does not name fail2ban")
	}
	return versions, nil
}

// f2bJail is the jail the benchmark gives fail2ban-server.
type f2bJail struct {
	logPath  string
	maxretry int
	findtime time.Duration
	bantime  time.Duration
	backend  string // pyinotify, polling, ...
	loglevel string
}

// Where fail2ban's nftables actions put a jail's bans (action.d/nftables.conf:
// table f2b-table, family inet, set addr-set-<jail name>).
const (
	f2bTable = "f2b-table"
	f2bSet   = "addr-set-" + jailName
)

// writeServerConf makes a configuration directory for fail2ban-server in
// dir/conf: Debian's files (linked from the tree, so filter.d and action.d
// are the packaged ones), no jail.d (Debian's enables its own sshd jail),
// and two .local files: fail2ban.local keeps the socket, pid file,
// database and log in dir; jail.local defines the one jail. It returns the
// configuration directory and the socket's path.
func (t *fail2banTree) writeServerConf(dir string, j f2bJail) (conf, socket string, err error) {
	conf = filepath.Join(dir, "conf")
	for _, d := range []string{conf, filepath.Join(conf, "jail.d"), filepath.Join(conf, "fail2ban.d")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", "", err
		}
	}
	links, err := filepath.Glob(filepath.Join(t.etc(), "*.conf"))
	if err != nil {
		return "", "", err
	}
	links = append(links, filepath.Join(t.etc(), "filter.d"), filepath.Join(t.etc(), "action.d"))
	for _, src := range links {
		if err := os.Symlink(src, filepath.Join(conf, filepath.Base(src))); err != nil {
			return "", "", fmt.Errorf("could not prepare fail2ban's configuration: %w", err)
		}
	}
	socket = filepath.Join(dir, "fail2ban.sock")
	files := map[string]string{
		"fail2ban.local": fmt.Sprintf(`# written by bench/jails
[Definition]
loglevel = %s
logtarget = %s
socket = %s
pidfile = %s
dbfile = %s
`, j.loglevel, filepath.Join(dir, "fail2ban.log"), socket, filepath.Join(dir, "fail2ban.pid"), filepath.Join(dir, "fail2ban.sqlite3")),
		"jail.local": fmt.Sprintf(`# written by bench/jails
[DEFAULT]
banaction = nftables-allports
banaction_allports = nftables-allports

[%s]
enabled = true
filter = sshd
logpath = %s
backend = %s
maxretry = %d
findtime = %d
bantime = %d
`, jailName, j.logPath, j.backend, j.maxretry, int(j.findtime.Seconds()), int(j.bantime.Seconds())),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(conf, name), []byte(text), 0o644); err != nil {
			return "", "", err
		}
	}
	return conf, socket, nil
}
