package logsrc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseJournalEntry(t *testing.T) {
	for _, tc := range []struct {
		name string
		json string
		text string
		time time.Time
	}{{
		name: "sshd",
		json: `{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1700000000123456","__MONOTONIC_TIMESTAMP":"5000000","_BOOT_ID":"b","_HOSTNAME":"web1","SYSLOG_IDENTIFIER":"sshd","_PID":"4242","_COMM":"sshd","MESSAGE":"Failed password for root from 192.0.2.1 port 22 ssh2"}`,
		text: "web1 sshd[4242]: Failed password for root from 192.0.2.1 port 22 ssh2",
		time: time.UnixMicro(1700000000123456),
	}, {
		name: "SYSLOG_PID before _PID, source time before reception time",
		json: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1700000009000000","_SOURCE_REALTIME_TIMESTAMP":"1700000000000001","SYSLOG_IDENTIFIER":"postfix/smtpd","SYSLOG_PID":"77","_PID":"1","MESSAGE":"lost connection"}`,
		text: "postfix/smtpd[77]: lost connection",
		time: time.UnixMicro(1700000000000001),
	}, {
		name: "_COMM when there is no identifier",
		json: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","_COMM":"dovecot","_PID":"9","MESSAGE":"auth failed"}`,
		text: "dovecot[9]: auth failed",
		time: time.UnixMicro(1),
	}, {
		name: "no identifier at all",
		json: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","_PID":"9","MESSAGE":"bare"}`,
		text: "bare",
		time: time.UnixMicro(1),
	}, {
		name: "identifier without PID",
		json: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"cron","MESSAGE":"job"}`,
		text: "cron: job",
		time: time.UnixMicro(1),
	}, {
		name: "non-numeric PID as it is",
		json: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"x","SYSLOG_PID":"abc","MESSAGE":"m"}`,
		text: "x[abc]: m",
		time: time.UnixMicro(1),
	}, {
		name: "kernel gets its monotonic time",
		json: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","__MONOTONIC_TIMESTAMP":"123456789","_HOSTNAME":"h","SYSLOG_IDENTIFIER":"kernel","MESSAGE":"IN=eth0 SRC=192.0.2.9"}`,
		text: "h kernel: [  123.456789] IN=eth0 SRC=192.0.2.9",
		time: time.UnixMicro(1),
	}, {
		name: "MESSAGE as bytes (not UTF-8), NUL kept",
		json: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"app","MESSAGE":[104,105,0,255]}`,
		text: "app: hi\x00\xff",
		time: time.UnixMicro(1),
	}, {
		name: "MESSAGE given twice",
		json: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":["one",[116,119,111]]}`,
		text: "one two",
		time: time.UnixMicro(1),
	}, {
		name: "MESSAGE null (too large without --all)",
		json: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"app","MESSAGE":null}`,
		text: "app: ",
		time: time.UnixMicro(1),
	}, {
		name: "newlines escaped, as fail2ban does",
		json: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"app","MESSAGE":"line 1\nline 2 from 192.0.2.3"}`,
		text: `app: line 1\nline 2 from 192.0.2.3`,
		time: time.UnixMicro(1),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := parseJournalEntry([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if got := e.format(0); got != tc.text {
				t.Errorf("text = %q, want %q", got, tc.text)
			}
			if !e.Time.Equal(tc.time) {
				t.Errorf("time = %v, want %v", e.Time, tc.time)
			}
		})
	}
}

func TestParseJournalEntryRejects(t *testing.T) {
	for name, js := range map[string]string{
		"not JSON":        `Failed password`,
		"no cursor":       `{"MESSAGE":"x"}`,
		"bad byte value":  `{"__CURSOR":"c","MESSAGE":[104,300]}`,
		"object as value": `{"__CURSOR":"c","MESSAGE":{"a":1}}`,
	} {
		if _, err := parseJournalEntry([]byte(js)); err == nil {
			t.Errorf("%s: parsed %s", name, js)
		}
	}
}

func TestJournalFormatBound(t *testing.T) {
	e := &journalEntry{Ident: "app", Message: strings.Repeat("x", 100)}
	if got := e.format(10); got != "app: xxxxx" {
		t.Errorf("format(10) = %q", got)
	}
}

func TestJournalRejectsOptions(t *testing.T) {
	for _, opts := range []JournalOptions{
		{Units: []string{"--since=yesterday"}},
		{Units: []string{""}},
		{Matches: []string{"-f"}},
		{Matches: []string{"_SYSTEMD_UNIT"}},
		{Matches: []string{"lower=case"}},
	} {
		if err := Journal(context.Background(), opts, make(chan Line)); err == nil {
			t.Errorf("Journal(%+v) accepted", opts)
		}
	}
}

func TestJournalSource(t *testing.T) {
	for _, tc := range []struct {
		opts JournalOptions
		want string
	}{
		{JournalOptions{Units: []string{"ssh.service"}}, "journal:ssh.service"},
		{JournalOptions{Units: []string{"a.service", "b.service"}}, "journal:a.service,b.service"},
		{JournalOptions{Matches: []string{"SYSLOG_IDENTIFIER=sshd"}}, "journal:SYSLOG_IDENTIFIER=sshd"},
		{JournalOptions{Units: []string{"x.service"}, Source: "mine"}, "mine"},
	} {
		j, err := newJournal(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if j.source != tc.want {
			t.Errorf("source of %+v = %q, want %q", tc.opts, j.source, tc.want)
		}
	}
}

// fakeJournalctl writes a journalctl stand-in that records its arguments
// (one invocation per line of args.log) and plays a script: the newest
// entry for --lines=1; for follows, the entries of follow-N.json (N
// counting from 1), then it exits with status 1, or, when follow-N.json
// does not exist, it waits to be killed.
func fakeJournalctl(t *testing.T) (cmd, dir string) {
	t.Helper()
	dir = t.TempDir()
	script := `#!/bin/sh
dir=` + dir + `
echo "$*" >> $dir/args.log
case "$*" in *--lines=1*) cat $dir/tail.json 2>/dev/null; exit 0;; esac
n=$(($(cat $dir/count 2>/dev/null || echo 0) + 1))
echo $n > $dir/count
if [ -f $dir/follow-$n.json ]; then cat $dir/follow-$n.json; echo "journal went away" >&2; exit 1; fi
exec sleep 60
`
	cmd = filepath.Join(dir, "journalctl")
	if err := os.WriteFile(cmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return cmd, dir
}

func entryJSON(cursor, msg string, us int64) string {
	return fmt.Sprintf(`{"__CURSOR":%q,"__REALTIME_TIMESTAMP":"%d","_HOSTNAME":"web1","SYSLOG_IDENTIFIER":"sshd","_PID":"10","MESSAGE":%q}`+"\n", cursor, us, msg)
}

// runJournal runs Journal in the background and returns its lines; the
// test's cleanup stops it and checks it returned ctx's error.
func runJournal(t *testing.T, opts JournalOptions) <-chan Line {
	t.Helper()
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan Line, 100)
	done := make(chan error, 1)
	go func() { done <- Journal(ctx, opts, lines) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != context.Canceled {
				t.Errorf("Journal returned %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Journal did not return after cancel")
		}
	})
	return lines
}

func expectJournal(t *testing.T, lines <-chan Line, want ...string) []Line {
	t.Helper()
	var got []Line
	var texts []string
	for range want {
		select {
		case l := <-lines:
			got = append(got, l)
			texts = append(texts, l.Text)
		case <-time.After(waitLine):
			t.Fatalf("got %q, then nothing within %v; want %q", texts, waitLine, want)
		}
	}
	if diff := cmp.Diff(want, texts); diff != "" {
		t.Fatalf("lines (-want +got):\n%s", diff)
	}
	return got
}

func readArgs(t *testing.T, dir string, n int) []string {
	t.Helper()
	var lines []string
	deadline := time.Now().Add(waitLine)
	for len(lines) < n {
		if time.Now().After(deadline) {
			t.Fatalf("journalctl ran %d times, want %d: %q", len(lines), n, lines)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "args.log"))
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) == 0 {
			lines = nil
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	return lines
}

// TestJournalRestartsAfterCursor: journalctl starts after the newest entry,
// and, each time it exits, again after the last entry read.
func TestJournalRestartsAfterCursor(t *testing.T) {
	cmd, dir := fakeJournalctl(t)
	writeFile(t, filepath.Join(dir, "tail.json"), entryJSON("c0", "old", 1))
	writeFile(t, filepath.Join(dir, "follow-1.json"), entryJSON("c1", "one", 1700000001000000)+"garbage line\n"+entryJSON("c2", "two", 1700000002000000))
	writeFile(t, filepath.Join(dir, "follow-2.json"), entryJSON("c3", "three", 1700000003000000))

	lines := runJournal(t, JournalOptions{Command: cmd, Units: []string{"ssh.service"}, Matches: []string{"SYSLOG_IDENTIFIER=sshd"}})
	got := expectJournal(t, lines, "web1 sshd[10]: one", "web1 sshd[10]: two", "web1 sshd[10]: three")
	for i, l := range got {
		if want := fmt.Sprintf("c%d", i+1); string(l.Pos) != want || l.Source != "journal:ssh.service" {
			t.Errorf("line %d: Pos %q, Source %q; want %q, journal:ssh.service", i, l.Pos, l.Source, want)
		}
	}
	if !got[0].Time.Equal(time.Unix(1700000001, 0)) {
		t.Errorf("time = %v", got[0].Time)
	}
	args := readArgs(t, dir, 4)
	common := "--output=json --no-pager --all --output-fields=" + strings.Join(journalFields, ",")
	want := []string{
		common + " --lines=1 --unit=ssh.service SYSLOG_IDENTIFIER=sshd",
		common + " --follow --after-cursor=c0 --unit=ssh.service SYSLOG_IDENTIFIER=sshd",
		common + " --follow --after-cursor=c2 --unit=ssh.service SYSLOG_IDENTIFIER=sshd",
		common + " --follow --after-cursor=c3 --unit=ssh.service SYSLOG_IDENTIFIER=sshd",
	}
	if diff := cmp.Diff(want, args); diff != "" {
		t.Errorf("journalctl arguments (-want +got):\n%s", diff)
	}
}

// TestJournalEmptyJournal: with no entry yet, journalctl follows new
// entries only, and a restart before the first entry starts from when
// following began, not from "now" again.
func TestJournalEmptyJournal(t *testing.T) {
	cmd, dir := fakeJournalctl(t)
	writeFile(t, filepath.Join(dir, "follow-1.json"), "")
	writeFile(t, filepath.Join(dir, "follow-2.json"), entryJSON("c1", "first", 1))
	before := time.Now().Unix()
	lines := runJournal(t, JournalOptions{Command: cmd, Directory: "/var/log/other"})
	expectJournal(t, lines, "web1 sshd[10]: first")
	args := readArgs(t, dir, 3)
	if !strings.Contains(args[1], "--directory=/var/log/other --follow --lines=0") {
		t.Errorf("first follow: %s", args[1])
	}
	var since int64
	if _, err := fmt.Sscanf(args[2][strings.Index(args[2], "--since=@"):], "--since=@%d", &since); err != nil || since < before || since > time.Now().Unix() {
		t.Errorf("restart: %s (since %d, want %d..now)", args[2], since, before)
	}
}

// TestJournalOldJournalctl: journalctl before systemd 236 knows no
// --output-fields; Journal runs it again without.
func TestJournalOldJournalctl(t *testing.T) {
	dir := t.TempDir()
	cmd := filepath.Join(dir, "journalctl")
	script := `#!/bin/sh
case "$*" in *--output-fields*) echo "journalctl: unrecognized option '--output-fields=MESSAGE'" >&2; exit 1;; esac
case "$*" in *--lines=1*) exit 0;; esac
printf '%s' '` + entryJSON("c1", "from an old journalctl", 1) + `'
exec sleep 60
`
	writeFile(t, cmd, script)
	if err := os.Chmod(cmd, 0o755); err != nil {
		t.Fatal(err)
	}
	lines := runJournal(t, JournalOptions{Command: cmd})
	expectJournal(t, lines, "web1 sshd[10]: from an old journalctl")
}

func TestJournalResumesAtCursor(t *testing.T) {
	cmd, dir := fakeJournalctl(t)
	runJournal(t, JournalOptions{Command: cmd, Cursor: "saved"})
	args := readArgs(t, dir, 1)
	if !strings.HasSuffix(args[0], "--follow --after-cursor=saved") {
		t.Errorf("journalctl %s, want it to follow after the saved cursor", args[0])
	}
}

// TestJournalRealJournalctl runs the real journalctl on a journal the test
// writes into a temporary directory with systemd-journal-remote: it
// follows from a cursor while entries are appended, filters by unit, reads
// a binary MESSAGE, and resumes at a cursor it delivered. It never writes
// to the system journal.
func TestJournalRealJournalctl(t *testing.T) {
	if out, err := exec.Command("journalctl", "--version").CombinedOutput(); err != nil {
		t.Skipf("journalctl does not work here: %v %s", err, out)
	}
	remote := ""
	for _, p := range []string{"/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"} {
		if _, err := os.Stat(p); err == nil {
			remote = p
		}
	}
	if remote == "" {
		t.Skip("systemd-journal-remote (Debian package systemd-journal-remote) is needed to write a test journal without touching the system's")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "remote.journal")
	write := func(entries ...string) {
		t.Helper()
		export := filepath.Join(dir, "entries.export")
		writeFile(t, export, strings.Join(entries, ""))
		if out, err := exec.Command(remote, "--output="+file, export).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", remote, err, out)
		}
	}
	write(exportEntry(1, "ssh.service", "sshd", "old entry"))
	// Resume after the old entry (so the entries written next are read
	// whether journalctl has started by then or not).
	out, err := exec.Command("journalctl", "--directory="+dir, "--output=json", "--lines=1").Output()
	if err != nil {
		t.Fatalf("journalctl: %v", err)
	}
	old, err := parseJournalEntry(out)
	if err != nil {
		t.Fatal(err)
	}

	opts := JournalOptions{Directory: dir, Units: []string{"ssh.service"}, Cursor: old.Cursor}
	lines := runJournal(t, opts)
	write(
		exportEntry(2, "ssh.service", "sshd", "Failed password for root from 192.0.2.1 port 22 ssh2"),
		exportEntry(3, "cron.service", "CRON", "not selected"),
		exportEntry(4, "ssh.service", "sshd", "Failed password for root from 192.0.2.2 port 22 ssh2\xff"),
	)
	got := expectJournal(t, lines,
		"web1 sshd[4242]: Failed password for root from 192.0.2.1 port 22 ssh2",
		"web1 sshd[4242]: Failed password for root from 192.0.2.2 port 22 ssh2\xff")
	if want := time.UnixMicro(1700000000000000 + 2); !got[0].Time.Equal(want) {
		t.Errorf("time = %v, want %v", got[0].Time, want)
	}

	opts.Cursor = string(got[0].Pos)
	expectJournal(t, runJournal(t, opts), got[1].Text)
}

// exportEntry is one entry in the journal export format; a message that is
// not valid UTF-8 is written as a binary field.
func exportEntry(i int, unit, ident, msg string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "__CURSOR=s=0;i=%d\n__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n", i, 1700000000000000+i, 5000000+i)
	fmt.Fprintf(&b, "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=web1\n_PID=4242\n")
	fmt.Fprintf(&b, "_SYSTEMD_UNIT=%s\nSYSLOG_IDENTIFIER=%s\n", unit, ident)
	if strings.ToValidUTF8(msg, "") == msg {
		fmt.Fprintf(&b, "MESSAGE=%s\n", msg)
	} else {
		n := len(msg)
		b.WriteString("MESSAGE\n")
		b.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24), 0, 0, 0, 0})
		b.WriteString(msg + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// TestJournalSystemJournal reads (never writes) the system journal, when
// there is one this user may read: resumed at the cursor of a recent entry,
// Journal must deliver the entry that follows it, as journalctl shows it.
func TestJournalSystemJournal(t *testing.T) {
	out, err := exec.Command("journalctl", "--output=json", "--no-pager", "--all", "--lines=2").Output()
	if err != nil {
		t.Skipf("journalctl does not work here: %v", err)
	}
	var entries []*journalEntry
	r := NewLineReader(strings.NewReader(string(out)), 0, maxJournalJSON)
	for {
		line, err := r.Next()
		if err != nil {
			break
		}
		if e, err := parseJournalEntry(line); err == nil {
			entries = append(entries, e)
		}
	}
	if len(entries) < 2 {
		t.Skip("no system journal readable here (no journal files, or this user may not read them)")
	}
	lines := runJournal(t, JournalOptions{Cursor: entries[0].Cursor})
	got := expectJournal(t, lines, entries[1].format(0))
	if string(got[0].Pos) != entries[1].Cursor || !got[0].Time.Equal(entries[1].Time) {
		t.Errorf("Pos %q, Time %v; want %q, %v", got[0].Pos, got[0].Time, entries[1].Cursor, entries[1].Time)
	}
}
