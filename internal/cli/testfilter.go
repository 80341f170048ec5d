package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/seawall/seawall/internal/filter"
)

// testFilterOptions are test-filter's flags.
type testFilterOptions struct {
	json     bool
	workers  int
	maxLines int
	timezone string
	now      string
	timeout  time.Duration
}

// defaultMaxPrinted is how many failures the text output lists by default.
const defaultMaxPrinted = 1000

func (a *app) testFilterCommand() *cobra.Command {
	var o testFilterOptions
	cmd := &cobra.Command{
		Use:   "test-filter FILTER LOGFILE",
		Short: "Run a filter over a log file and show what it matches (like fail2ban-regex)",
		Long: `test-filter runs a filter over a log file, as a jail would, and reports
what it found: the hits of each failregex and ignoreregex, the failures
(line number, address, time and the line) and a summary of the lines
matched, ignored and missed. LOGFILE "-" reads standard input.

FILTER is the name of a built-in filter or the path of a fail2ban filter
file (its .local file and .d/ directory are read too, as fail2ban does),
optionally followed by filter options: sshd[mode=aggressive],
/etc/fail2ban/filter.d/sshd.conf[mode=aggressive]. The option logtype
selects the log format of seawall's built-in filters: file (syslog, the
default), short (journalctl -o short), journal or rfc5424; e.g.
  journalctl -u ssh -o short-iso | seawall test-filter 'sshd[logtype=short]' -

With --json it prints one JSON object per failure, one per line, and
nothing else on standard output:
  {"line":12,"ip":"192.0.2.7","time":"2025-03-01T10:15:02+01:00"}
"line" is the 1-based line number in LOGFILE on which the failure was
found (for a failure spread over several lines, the last of them). "ip"
is the failure's address, normalised (an IPv4-mapped IPv6 address is
printed as IPv4, a captured <CIDR> as a prefix), or the host name or
failure id when the filter found no address; host names are never
resolved. "time" is RFC 3339, in --timezone: the line's date (read in
--timezone when it carries no zone of its own); a line without a date
takes the date of the last dated line before it, or the current time when
there is none (as fail2ban does), so "time" is always present. Dates
without a year get the year that puts them closest before --now.

Host names found in the log are never resolved.`,
		Example: `  seawall test-filter sshd /var/log/auth.log
  seawall test-filter --json 'sshd[mode=aggressive]' /var/log/auth.log | jq -r .ip | sort | uniq -c
  seawall test-filter /etc/fail2ban/filter.d/nginx-http-auth.conf /var/log/nginx/error.log`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usagef("test-filter needs two arguments, FILTER and LOGFILE (got %d)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.testFilter(cmd.InOrStdin(), args[0], args[1], o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.json, "json", false, "print one JSON object per failure: {\"line\":N,\"ip\":\"...\",\"time\":\"RFC 3339\"}")
	f.IntVar(&o.workers, "workers", 0, "goroutines that match lines (0: GOMAXPROCS)")
	f.IntVar(&o.maxLines, "max-lines", defaultMaxPrinted, "failures listed in the text output (-1: all)")
	f.StringVar(&o.timezone, "timezone", "", "zone of dates that carry none, e.g. UTC or Europe/Zurich (default: the local zone)")
	f.DurationVar(&o.timeout, "line-timeout", filter.DefaultLineTimeout, "longest a backtracking pattern may run on one line; a line that takes longer counts as not matched")
	f.StringVar(&o.now, "now", "", "the current time, RFC 3339, for dates without a year and lines without a date (default: now)")
	return cmd
}

// testFilter runs the command.
func (a *app) testFilter(stdin io.Reader, spec, logPath string, o testFilterOptions) error {
	fopts, err := o.filterOptions()
	if err != nil {
		return err
	}
	if o.workers < 0 {
		return usagef("--workers must be 0 or more, not %d", o.workers)
	}
	flt, err := loadTestFilter(spec, fopts)
	if err != nil {
		return err
	}
	in, name := stdin, "standard input"
	if logPath != "-" {
		file, err := os.Open(logPath)
		if err != nil {
			return fmt.Errorf("could not open log: %w", err)
		}
		defer file.Close()
		in, name = file, logPath
	}
	w := bufio.NewWriterSize(a.out, 64<<10)
	var out failureWriter
	if o.json {
		out = &jsonFailures{w: w}
	} else {
		out = newTextReport(w, flt, name, o.maxLines)
	}
	start := time.Now()
	st, readErr := flt.MatchReader(stopReader{in, out}, o.workers, out.failure)
	out.finish(st, time.Since(start))
	if err := w.Flush(); err != nil {
		return fmt.Errorf("could not write output: %w", err)
	}
	if err := out.writeErr(); err != nil {
		return fmt.Errorf("could not write output: %w", err)
	}
	if readErr != nil {
		return fmt.Errorf("%s: %w", name, readErr)
	}
	if o.json {
		fmt.Fprintf(a.errOut, "seawall: %s\n", summaryLine(st))
		if st.Timeouts > 0 {
			fmt.Fprintf(a.errOut, "seawall: warning: %s\n", timeoutNote(st.Timeouts))
		}
	}
	return nil
}

// filterOptions turns --timezone, --now and --line-timeout into the
// filter's options.
func (o testFilterOptions) filterOptions() (filter.Options, error) {
	if o.timeout <= 0 {
		return filter.Options{}, usagef("--line-timeout must be positive, not %v", o.timeout)
	}
	fo := filter.Options{LineTimeout: o.timeout, NoFields: true}
	if o.timezone != "" {
		loc, err := time.LoadLocation(o.timezone)
		if err != nil {
			return fo, usagef("--timezone: %v", err)
		}
		fo.Location = loc
	}
	if o.now != "" {
		now, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return fo, usagef("--now must be an RFC 3339 time like 2025-03-01T10:00:00Z: %v", err)
		}
		fo.Now = func() time.Time { return now }
	}
	return fo, nil
}

// loadTestFilter loads a filter spec; an unknown built-in name or a
// malformed spec is a usage error.
func loadTestFilter(spec string, o filter.Options) (*filter.Filter, error) {
	name, _, err := filter.ParseSpec(spec)
	if err != nil {
		return nil, usageError{err}
	}
	isPath := strings.ContainsAny(name, `/\`) || strings.HasSuffix(name, ".conf") || strings.HasSuffix(name, ".local")
	if !isPath && !isBuiltinFilter(name) {
		return nil, usagef("no built-in filter %q: built-in filters are %s; or give the path of a fail2ban filter file",
			name, strings.Join(filter.Builtins(), ", "))
	}
	f, err := filter.Load(spec, o)
	if err != nil {
		return nil, fmt.Errorf("could not load filter: %w", err)
	}
	return f, nil
}

func isBuiltinFilter(name string) bool {
	for _, b := range filter.Builtins() {
		if b == name {
			return true
		}
	}
	return false
}

// failureWriter is an output format of test-filter.
type failureWriter interface {
	failure(lineNo int, fl filter.Failure) // called in line order
	finish(st filter.Stats, took time.Duration)
	writeErr() error // the first error writing, if any
}

// stopReader ends the input early once the output cannot be written (a
// closed pipe), so a large log is not read for nothing.
type stopReader struct {
	r   io.Reader
	out failureWriter
}

func (s stopReader) Read(p []byte) (int, error) {
	if err := s.out.writeErr(); err != nil {
		return 0, err
	}
	return s.r.Read(p)
}

// jsonFailures prints one JSON object per failure. The objects are small
// and fixed in shape, so they are appended by hand: encoding/json would
// cost a reflection pass and an allocation per failure.
type jsonFailures struct {
	w   *bufio.Writer
	buf []byte
	err error
}

func (j *jsonFailures) failure(lineNo int, fl filter.Failure) {
	b := append(j.buf[:0], `{"line":`...)
	b = strconv.AppendInt(b, int64(lineNo), 10)
	b = append(b, `,"ip":`...)
	b = appendJSONString(b, fl.Host)
	b = append(b, `,"time":`...)
	if fl.Time.IsZero() {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = fl.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, "}\n"...)
	j.buf = b
	if _, err := j.w.Write(b); err != nil && j.err == nil {
		j.err = err
	}
}

func (j *jsonFailures) finish(filter.Stats, time.Duration) {}

func (j *jsonFailures) writeErr() error { return j.err }

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD as
// encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, `\u00`...)
				b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// textReport is the human output, laid out like fail2ban-regex's. The
// header is written at once; the failures listed are formatted as they
// come (copies, so no line holds the reader's buffers alive) and written
// after the regex counts, which are known only at the end.
type textReport struct {
	w        *bufio.Writer
	f        *filter.Filter
	max      int // failures to list; < 0: all
	listed   bytes.Buffer
	nListed  int
	failures int
}

func newTextReport(w *bufio.Writer, f *filter.Filter, logName string, maxListed int) *textReport {
	t := &textReport{w: w, f: f, max: maxListed}
	fmt.Fprintf(w, "Filter:       %s\n", f.Name())
	for _, file := range f.Files() {
		fmt.Fprintf(w, "  read        %s\n", file)
	}
	fmt.Fprintf(w, "Patterns:     %d failregex, %d ignoreregex", len(f.FailRegexes()), len(f.IgnoreRegexes()))
	if f.PrefRegex() != "" {
		fmt.Fprintf(w, ", a prefregex")
	}
	if f.MaxLines() > 1 {
		fmt.Fprintf(w, ", maxlines %d", f.MaxLines())
	}
	fmt.Fprintln(w)
	if bt := f.Backtracking(); len(bt) > 0 {
		fmt.Fprintf(w, "Backtracking: %d patterns need the slower backtracking engine:\n", len(bt))
		for _, s := range bt {
			fmt.Fprintf(w, "  %s\n", s)
		}
	} else {
		fmt.Fprintf(w, "Backtracking: none (every pattern runs in linear time)\n")
	}
	fmt.Fprintf(w, "Log file:     %s\n\n", logName)
	return t
}

func (t *textReport) failure(lineNo int, fl filter.Failure) {
	t.failures++
	if t.max >= 0 && t.nListed >= t.max {
		return
	}
	t.nListed++
	b := &t.listed
	fmt.Fprintf(b, "|  %d: %s", lineNo, fl.Host)
	if !fl.Time.IsZero() {
		b.WriteString(", ")
		b.WriteString(fl.Time.Format(time.RFC3339Nano))
	}
	fmt.Fprintf(b, " (failregex %d)\n", fl.Regex)
	for _, l := range fl.Lines {
		b.WriteString("|     ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
}

func (t *textReport) finish(st filter.Stats, took time.Duration) {
	w := t.w
	writeHits(w, "Failregex", st.FailHits, t.f.FailRegexes())
	writeHits(w, "Ignoreregex", st.IgnoreHits, t.f.IgnoreRegexes())
	fmt.Fprintf(w, "Failures: %d\n", t.failures)
	if t.nListed > 0 {
		fmt.Fprintf(w, "|- line: address, time (failregex #), then the line(s)\n")
		w.Write(t.listed.Bytes())
		if more := t.failures - t.nListed; more > 0 {
			fmt.Fprintf(w, "|  ... %d more (--max-lines -1 lists all)\n", more)
		}
		fmt.Fprintf(w, "`-\n")
	}
	fmt.Fprintf(w, "\n%s\n", summaryLine(st))
	var notes []string
	if st.TooLong > 0 {
		notes = append(notes, fmt.Sprintf("%d missed for being too long (over %d bytes)", st.TooLong, filter.DefaultMaxLineBytes))
	}
	if st.NoDate > 0 {
		notes = append(notes, fmt.Sprintf("%d without a date (the previous line's date was used)", st.NoDate))
	}
	if st.Timeouts > 0 {
		notes = append(notes, timeoutNote(st.Timeouts))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "       %s\n", strings.Join(notes, "; "))
	}
	rate := ""
	if s := took.Seconds(); s > 0 {
		rate = fmt.Sprintf(", %.0f lines/s", float64(st.Lines)/s)
	}
	fmt.Fprintf(w, "[processed in %.2f s%s]\n", took.Seconds(), rate)
}

// writeErr reports a failed write: a bufio.Writer keeps its first error
// and returns it from every later Write, an empty one included.
func (t *textReport) writeErr() error {
	_, err := t.w.Write(nil)
	return err
}

// writeHits lists the hits of each pattern, as fail2ban-regex does (the
// numbers are the patterns' indexes, as in seawall's error messages).
func writeHits(w io.Writer, what string, hits []int, patterns []string) {
	total := 0
	for _, n := range hits {
		total += n
	}
	fmt.Fprintf(w, "%s: %d total\n", what, total)
	if len(patterns) == 0 {
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "|-  #) [# of hits] regular expression\n")
	for i, p := range patterns {
		n := 0
		if i < len(hits) {
			n = hits[i]
		}
		fmt.Fprintf(w, "|  %2d) [%d] %s\n", i, n, p)
	}
	fmt.Fprintf(w, "`-\n\n")
}

// timeoutNote says that n lines went unmatched for taking too long.
func timeoutNote(n int) string {
	return fmt.Sprintf("%d backtracking matches ran out of time and counted as no match (--line-timeout raises the bound)", n)
}

// summaryLine is fail2ban-regex's "Lines:" summary. As there, "matched"
// counts the lines that gave a failure, and "ignored" the lines an
// ignoreregex dropped and those a failregex matched without a failure
// (<F-NOFAIL>, or a line that only feeds a connection's state); lines
// skipped for being too long count as missed.
func summaryLine(st filter.Stats) string {
	missed := st.Missed + st.TooLong
	ignored := max(0, st.Lines-missed-st.Failures)
	return fmt.Sprintf("Lines: %d lines, %d ignored, %d matched, %d missed", st.Lines, ignored, st.Failures, missed)
}
