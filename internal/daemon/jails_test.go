package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/control"
	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/state"
	"github.com/seawall/seawall/internal/store"
)

const jailPolicy = `version: 1
host:
  input:
    - allow: ssh
jails:
  sshd:
    logs: {file: auth.log}
    filter: sshd
    maxretry: 3
    findtime: 10m
    bantime: 1h
`

// jailLab is a daemon with a fake kernel, a real store and a real log file
// in a temporary directory.
type jailLab struct {
	t      *testing.T
	dir    string
	policy string
	state  *state.Dir
	log    string
	kernel *fakeKernel
	client *control.Client
	stop   func()
}

func startJailLab(t *testing.T, dir string, k *fakeKernel) *jailLab {
	t.Helper()
	return startJailLabWith(t, dir, k, jailPolicy, nil)
}

// startJailLabWith starts a lab with its own policy, and a change to the
// daemon's configuration.
func startJailLabWith(t *testing.T, dir string, k *fakeKernel, pol string, change func(*Config)) *jailLab {
	t.Helper()
	path := filepath.Join(dir, "seawall.yaml")
	if err := os.WriteFile(path, []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "state", "bans.db"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Path: path, Load: func() (*policy.Policy, error) { return policy.Load(path) },
		Kernel: k, State: st, Store: db,
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		HostAddrs: func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}, nil },
		Control:   control.SocketPath(st.Path()),
		Poll:      20 * time.Millisecond,
	}
	if change != nil {
		change(&cfg)
	}
	d := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	lab := &jailLab{t: t, dir: dir, policy: path, state: st, log: filepath.Join(dir, "auth.log"), kernel: k, client: control.NewClient(st.Path())}
	stopped := false
	lab.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
		db.Close()
	}
	t.Cleanup(lab.stop)
	lab.waitFor("the jail", func() bool { js, err := lab.client.Jails(); return err == nil && len(js) == 1 })
	lab.waitFor("the first apply recorded", func() bool { a, err := st.Applied(); return err == nil && a != nil })
	return lab
}

func (l *jailLab) waitFor(what string, ok func() bool) time.Duration {
	l.t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > 5*time.Second {
			l.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// appendLines appends sshd failures of addr, n times.
func (l *jailLab) fail(addr string, n int) {
	l.t.Helper()
	f, err := os.OpenFile(l.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	for i := range n {
		fmt.Fprintf(f, "%s web1 sshd[%d]: Failed password for invalid user admin from %s port %d ssh2\n",
			time.Now().Format(time.Stamp), 4000+i, addr, 50000+i)
	}
}

func (l *jailLab) jail() control.JailStatus {
	l.t.Helper()
	js, err := l.client.Jails()
	if err != nil || len(js) != 1 {
		l.t.Fatalf("jails: %v %v", js, err)
	}
	return js[0]
}

// TestJailBansFromFile runs a jail on a log file through the daemon: bans
// at maxretry for IPv4, IPv6 (by /64) and IPv4-mapped sources, none for
// the host's own address, loopback or a source below maxretry; bans and
// the log position survive a restart (restored in one batch into an empty
// kernel, no line read twice or skipped); ban and unban by hand over the
// control socket.
func TestJailBansFromFile(t *testing.T) {
	dir := t.TempDir()
	k := &fakeKernel{}
	lab := startJailLab(t, dir, k)

	lab.fail("203.0.113.7", 3)
	took := lab.waitFor("the IPv4 ban", func() bool { return k.has("jail_sshd_v4", netip.MustParseAddr("203.0.113.7")) })
	t.Logf("third failure written → ban in the (fake) kernel: %v", took)
	lab.fail("2001:db8:1:2::5", 3)
	lab.waitFor("the IPv6 /64 ban", func() bool { return k.has("jail_sshd_v6", netip.MustParseAddr("2001:db8:1:2::")) })
	lab.fail("::ffff:198.51.100.9", 3)
	lab.waitFor("the mapped address's ban", func() bool { return k.has("jail_sshd_v4", netip.MustParseAddr("198.51.100.9")) })
	lab.fail("192.0.2.1", 5)    // the host's own address
	lab.fail("127.0.0.1", 5)    // loopback
	lab.fail("198.51.100.1", 2) // below maxretry
	lab.waitFor("every line read", func() bool { return lab.jail().Logs[0].Lines == 21 })

	js := lab.jail()
	if js.CurrentlyBanned != 3 || js.TotalBanned != 3 || len(js.Banned) != 3 || js.Ignored != 10 || js.CurrentlyFailed != 1 {
		t.Fatalf("jail status: %+v", js)
	}
	for _, a := range []string{"192.0.2.1", "127.0.0.1", "198.51.100.1"} {
		if k.has("jail_sshd_v4", netip.MustParseAddr(a)) {
			t.Errorf("%s was banned", a)
		}
	}
	lab.stop()

	// While the daemon is down: one more line. Then a "reboot": an empty
	// kernel.
	lab.fail("198.51.100.1", 1)
	k2 := &fakeKernel{}
	lab2 := startJailLab(t, dir, k2)
	lab2.waitFor("the restored bans", func() bool {
		return k2.has("jail_sshd_v4", netip.MustParseAddr("203.0.113.7")) &&
			k2.has("jail_sshd_v6", netip.MustParseAddr("2001:db8:1:2::")) &&
			k2.has("jail_sshd_v4", netip.MustParseAddr("198.51.100.9"))
	})
	k2.mu.Lock()
	first, left := k2.firstRuntime, k2.elements["jail_sshd_v4"][netip.MustParseAddr("203.0.113.7")]
	k2.mu.Unlock()
	if first != 3 {
		t.Errorf("the apply that created the table carried %d bans, want all 3 (no moment with the table back and the bans not)", first)
	}
	if left <= 55*time.Minute || left > time.Hour+time.Second {
		t.Errorf("restored ban's timeout %v, want its remaining time (under 1h)", left)
	}
	lab2.waitFor("the line written while down", func() bool { return lab2.jail().Logs[0].Lines == 1 })
	time.Sleep(50 * time.Millisecond)
	if js := lab2.jail(); js.Logs[0].Lines != 1 || js.CurrentlyBanned != 3 {
		t.Fatalf("after restart: %+v (want 1 line read: the one written while down)", js)
	}

	// By hand: unban, ban for 2h, then permanently; an ignored address
	// is refused.
	lifted, err := lab2.client.Unban(control.UnbanRequest{Addr: "203.0.113.7"})
	if err != nil || len(lifted) != 1 {
		t.Fatalf("unban: %v %v", lifted, err)
	}
	if k2.has("jail_sshd_v4", netip.MustParseAddr("203.0.113.7")) {
		t.Fatal("unbanned address still in the kernel")
	}
	bans, err := lab2.client.Ban(control.BanRequest{Addr: "192.0.2.99", For: "2h"})
	if err != nil || len(bans) != 1 || bans[0].Origin != "manual" || bans[0].Expires == nil {
		t.Fatalf("ban: %+v %v", bans, err)
	}
	k2.mu.Lock()
	to := k2.elements["jail_sshd_v4"][netip.MustParseAddr("192.0.2.99")]
	k2.mu.Unlock()
	if to < 119*time.Minute || to > 2*time.Hour+time.Second {
		t.Errorf("2h ban's kernel timeout %v", to)
	}
	if bans, err = lab2.client.Ban(control.BanRequest{Addr: "192.0.2.99", For: "permanent"}); err != nil || bans[0].Expires != nil {
		t.Fatalf("permanent ban: %+v %v", bans, err)
	}
	k2.mu.Lock()
	to = k2.elements["jail_sshd_v4"][netip.MustParseAddr("192.0.2.99")]
	k2.mu.Unlock()
	if to != 0 {
		t.Errorf("a permanent ban has kernel timeout %v, want none", to)
	}
	if _, err := lab2.client.Ban(control.BanRequest{Addr: "127.0.0.1"}); err == nil {
		t.Error("banning loopback was accepted")
	}
	if _, err := lab2.client.Ban(control.BanRequest{Addr: "203.0.113.0/24"}); err == nil {
		t.Error("banning a range was accepted")
	}
	if _, err := lab2.client.Ban(control.BanRequest{Addr: "203.0.113.8", Jail: "nope"}); err == nil {
		t.Error("banning in a jail that does not exist was accepted")
	}
	lab2.stop()

	db, err := store.Open(filepath.Join(dir, "state", "bans.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored, err := db.Bans()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, b := range stored {
		got[b.Prefix.String()] = true
	}
	want := map[string]bool{"2001:db8:1:2::/64": true, "198.51.100.9/32": true, "192.0.2.99/32": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored bans %v, want %v", got, want)
	}
}

// TestFullApplyKeepsBans: when the table is removed and restored, or
// re-applied in full, the runtime sets come back with the current bans.
func TestFullApplyKeepsBans(t *testing.T) {
	k := &fakeKernel{}
	lab := startJailLab(t, t.TempDir(), k)
	lab.fail("203.0.113.7", 3)
	a := netip.MustParseAddr("203.0.113.7")
	lab.waitFor("the ban", func() bool { return k.has("jail_sshd_v4", a) })
	k.Delete() // nft flush ruleset
	lab.waitFor("the restore with the ban", func() bool { return k.has("jail_sshd_v4", a) })
}

// TestJailReload: a jail whose settings change is restarted with its bans,
// and counts by its new settings; a jail removed from the policy stops.
func TestJailReload(t *testing.T) {
	k := &fakeKernel{}
	lab := startJailLab(t, t.TempDir(), k)
	lab.fail("203.0.113.7", 3)
	a := netip.MustParseAddr("203.0.113.7")
	lab.waitFor("the ban", func() bool { return k.has("jail_sshd_v4", a) })

	edited := strings.Replace(jailPolicy, "maxretry: 3", "maxretry: 2", 1)
	if err := os.WriteFile(lab.policy, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	bumpMtime(t, lab.policy)
	lab.waitFor("the restarted jail", func() bool {
		js, err := lab.client.Jails()
		return err == nil && len(js) == 1 && js[0].MaxRetry == 2
	})
	if js := lab.jail(); js.CurrentlyBanned != 1 || !k.has("jail_sshd_v4", a) {
		t.Fatalf("the ban was not carried over: %+v", js)
	}
	lab.fail("203.0.113.8", 2)
	lab.waitFor("a ban at the new maxretry", func() bool { return k.has("jail_sshd_v4", netip.MustParseAddr("203.0.113.8")) })

	withoutJails := jailPolicy[:strings.Index(jailPolicy, "jails:")]
	if err := os.WriteFile(lab.policy, []byte(withoutJails), 0o644); err != nil {
		t.Fatal(err)
	}
	bumpMtime(t, lab.policy)
	lab.waitFor("the jail to stop", func() bool {
		js, err := lab.client.Jails()
		return err == nil && len(js) == 0
	})
	lab.waitFor("the jail's sets to leave the table", func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.table.Set("jail_sshd_v4") == nil
	})
}

// TestRefillAfterForeignApply: another seawall process re-applies the table
// and its ban sets come back empty; the daemon sees the state directory
// change and puts the bans back.
func TestRefillAfterForeignApply(t *testing.T) {
	k := &fakeKernel{}
	lab := startJailLab(t, t.TempDir(), k)
	lab.fail("203.0.113.7", 3)
	a := netip.MustParseAddr("203.0.113.7")
	lab.waitFor("the ban", func() bool { return k.has("jail_sshd_v4", a) })

	applied, err := lab.state.Applied()
	if err != nil || applied == nil {
		t.Fatalf("applied: %v %v", applied, err)
	}
	unlock, err := lab.state.Lock()
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := k.Apply(applied.Ruleset, nil, 0) // as `seawall apply` would, sets new
	applied.Gen = gen
	err = lab.state.SaveApplied(applied)
	unlock()
	if err != nil {
		t.Fatal(err)
	}
	if k.has("jail_sshd_v4", a) {
		t.Fatal("the fake kernel kept the ban across a full apply")
	}
	lab.waitFor("the bans put back", func() bool { return k.has("jail_sshd_v4", a) })
}

// TestJailJournal: a journal source runs journalctl (a stand-in here) with
// the jail's units and matches, and the sshd filter, given
// logtype=journal as fail2ban's journal backend does, bans from its entries.
func TestJailJournal(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "journalctl")
	var entries strings.Builder
	for i := range 3 {
		fmt.Fprintf(&entries, `{"__CURSOR":"c%d","__REALTIME_TIMESTAMP":"%d","_HOSTNAME":"web1","SYSLOG_IDENTIFIER":"sshd","_PID":"10","MESSAGE":"Failed password for root from 203.0.113.50 port %d ssh2"}`+"\n",
			i, time.Now().UnixMicro(), 40000+i)
	}
	if err := os.WriteFile(filepath.Join(dir, "entries.json"), []byte(entries.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// The stand-in records its arguments; it answers --lines=1 with
	// nothing and a follow with the entries, then waits.
	sh := "#!/bin/sh\necho \"$*\" >> " + dir + "/args.log\ncase \"$*\" in *--lines=1*) exit 0;; esac\ncat " + dir + "/entries.json\nexec sleep 60\n"
	if err := os.WriteFile(script, []byte(sh), 0o755); err != nil {
		t.Fatal(err)
	}
	pol := strings.Replace(jailPolicy, "logs: {file: auth.log}", "logs: {journal: [ssh.service, SYSLOG_IDENTIFIER=sshd]}", 1)
	k := &fakeKernel{}
	lab := startJailLabWith(t, dir, k, pol, func(c *Config) { c.Journalctl = script })
	lab.waitFor("the ban from journal entries", func() bool { return k.has("jail_sshd_v4", netip.MustParseAddr("203.0.113.50")) })
	args, err := os.ReadFile(filepath.Join(dir, "args.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(args), "_SYSTEMD_UNIT=ssh.service + SYSLOG_IDENTIFIER=sshd") {
		t.Errorf("journalctl was run with %q, want the unit and the match ORed", args)
	}
	if js := lab.jail(); js.Logs[0].Lines != 3 || js.Logs[0].Failures != 3 {
		t.Errorf("journal source: %+v", js.Logs[0])
	}
}

// TestReloadDuringFlood: a jail restarted while its log is being read in
// full flow stops and hands over (its goroutines never wait on a lock the
// restart holds).
func TestReloadDuringFlood(t *testing.T) {
	k := &fakeKernel{}
	lab := startJailLab(t, t.TempDir(), k)
	f, err := os.OpenFile(lab.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Format(time.Stamp)
	for i := range 30_000 {
		fmt.Fprintf(f, "%s web1 sshd[%d]: Failed password for root from 198.18.%d.%d port 22 ssh2\n", now, 1000+i, i>>8&255, i&255)
	}
	f.Close()
	edited := strings.Replace(jailPolicy, "maxretry: 3", "maxretry: 1", 1)
	if err := os.WriteFile(lab.policy, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	bumpMtime(t, lab.policy)
	lab.waitFor("the jail restarted mid-flood", func() bool {
		js, err := lab.client.Jails()
		return err == nil && len(js) == 1 && js[0].MaxRetry == 1
	})
}
