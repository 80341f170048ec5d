package datedetect

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// nativeSeeds are lines in the formats of the native matchers, to mutate.
var nativeSeeds = []string{
	"2005-08-14T11:59:59.123456+02:00 x", "2005/08/14 11:59:59,123 Z", "2005.8.4  1:2:3 UTC",
	"Mon Aug 14 11:59:59.011 2005 x", "Aug  4 01:02:03 host", "sun jan 1 9:05:06 2021",
	"Aug 14 2005 11:59:59.123", "14/08/2005 11:59:59", "4-8-05  1:59:59",
	"[14/Aug/2005:11:59:59 -0000] x", "14-Aug-2005 11:59:59.252 +02:00", "14/aug/2005 11:59:59 utc",
	"05/20/2008:01:57:39", "01-27-2012 16:22:44.252", "1123963199.123 x", "[1123963199] x",
	"type=AVC msg=audit(1123963199.123:45): x", "11:59:59 x", "<09/16/08@05:03:30>",
	"050814 11:59:59", "050814  1:59:59", "Jan 23, 2005 9:59:59 PM", "Apr-27-13 02:33:06",
	"20050123T215959.123 +0100", "20050123  85959", "PDT Apr 16 21:05:29", "CEST Aug 14 11:59:59 2005",
	"+00:00 Jan 23 21:59:59.011 2005", "-0500 Jan 23 21:59:59", "Z Jan 23 21:59:59",
}

const nativeAlphabet = "0123456789 -/.:,@<>[]()+TZzUuGgMmPpAaJjNnSsOoDdFfelrycvbgtx_\t\x1c"

// mutate changes a seed a little: characters replaced, inserted, deleted,
// and now and then a non-ASCII character, which the natives hand over.
func mutate(rng *rand.Rand, s string) string {
	b := []byte(s)
	for range rng.IntN(4) {
		i := rng.IntN(len(b) + 1)
		c := nativeAlphabet[rng.IntN(len(nativeAlphabet))]
		switch rng.IntN(4) {
		case 0:
			b = slices.Insert(b, i, c)
		case 1:
			if i < len(b) {
				b = slices.Delete(b, i, i+1)
			}
		case 2:
			if i < len(b) {
				b[i] = c
			}
		case 3:
			if rng.IntN(8) == 0 {
				b = slices.Insert(b, i, []byte("ſé٣")[rng.IntN(3)*2:][:2]...)
			}
		}
	}
	if rng.IntN(3) == 0 {
		b = append([]byte(nativeSeeds[rng.IntN(len(nativeSeeds))][:rng.IntN(5)]+" "), b...)
	}
	return string(b)
}

// fieldTexts are texts for each element kind, valid and nearly valid.
var fieldTexts = map[elemKind][]string{
	elYear20:      {"2005", "2019", "2099", "1999", "20", "205", "20050"},
	elMonth:       {"1", "9", "01", "09", "10", "11", "12", "0", "00", "13", "1a"},
	elDay:         {"1", "9", "01", "09", " 1", " 9", "10", "19", "20", "29", "30", "31", "32", "0", " 0", "3"},
	elHour:        {"0", "9", "00", "09", "10", "19", "20", "23", "24", "29", "2"},
	elMinute:      {"0", "5", "00", "05", "59", "60", "6"},
	elSecond:      {"0", "5", "00", "59", "60", "61", "62", "6"},
	elMonthEx:     {"01", "09", "10", "12", "00", "13", "1"},
	elDayEx:       {"01", "09", "10", "29", "30", "31", "32", "00", "1"},
	elHourEx:      {"00", "09", "19", "20", "23", "24", "2"},
	elMinuteEx:    {"00", "59", "60", "5"},
	elSecondEx:    {"00", "59", "60", "61", "62", "5"},
	elYear2:       {"05", "99", "5", "005"},
	elYearAlt:     {"2005", "05", "5", "1999", "205"},
	elHour12:      {"1", "9", "01", "09", "10", "12", "13", "00", "0"},
	elAMPM:        {"AM", "pm", "Pm", "xm", "a"},
	elMonthAbbr:   {"Aug", "aug", "AUG", "Sep", "Dec", "Xyz", "Au"},
	elWeekday:     {"", "Mon ", "sun ", "SAT ", "Mon", "Xyz "},
	elDateTimeT:   {"T", " ", "  ", "   ", "t", ""},
	elHourK:       {"0", "9", "00", "19", "20", "29", "30", " 1", " 19", "  1", "2"},
	elFraction:    {"", ".1", ".123", ".123456", ".1234567", ",123", ".", ".12345678"},
	elZone:        {"", "Z", "+02:00", "+0200", "+02", "-0130", " Z", "  UTC", " GMT", "+2", "+20", "utc", " +02:0", "+02:000"},
	elYearOpt:     {"", " 2005", " 2099", " 1999", " 20", "2005"},
	elOptByte:     {"", " ", ":", "  "},
	elZoneNameOpt: {"", "Z ", "PDT ", "CEST ", "ABCDEF ", "AB ", "pdt "},
	elZoneOpt:     {"", "+00:00 ", "-0500 ", "Z ", "UTC ", "+05 ", "+0 "},
	elEpoch:       {"1123963199", "11239631990", "112396319", "112396319900", "1123963199.123", "1123963199.1234567", "1123963199.12"},
}

// generate builds a line from a native's elements with texts from
// fieldTexts, so that every length each field can take gets tried.
func generate(rng *rand.Rand, spec *nativeSpec) string {
	var b []byte
	prefixes := []string{"", "", "[", "x ", "x", "@", "audit(", "a audit(", "  ", "[[", "é"}
	b = append(b, prefixes[rng.IntN(len(prefixes))]...)
	sep := "-/."[rng.IntN(3)]
	for _, e := range spec.elems {
		switch e.kind {
		case elSep:
			sep = e.set[rng.IntN(len(e.set))]
			b = append(b, sep)
		case elSepRef:
			if rng.IntN(8) == 0 {
				b = append(b, "-/."[rng.IntN(3)])
			} else {
				b = append(b, sep)
			}
		case elLiteral:
			b = append(b, e.set...)
		default:
			texts := fieldTexts[e.kind]
			b = append(b, texts[rng.IntN(len(texts))]...)
		}
	}
	suffixes := []string{"", " x", "x", "]", "1", ".", " 2005", ":00", "é"}
	return string(append(b, suffixes[rng.IntN(len(suffixes))]...))
}

// TestNativeMatchesMachine checks that every native matcher finds what the
// backtracking machine finds for the same template, on lines around real
// dates: same start, same date span, same fields.
func TestNativeMatchesMachine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	iterations := 3000
	if testing.Short() {
		iterations = 300
	}
	natives := 0
	for _, tmpl := range defaults().all {
		if tmpl.native == nil {
			continue
		}
		natives++
		for i := range iterations {
			line := nativeSeeds[i%len(nativeSeeds)]
			switch {
			case i < len(nativeSeeds):
			case i%2 == 0:
				line = generate(rng, tmpl.native)
			default:
				line = mutate(rng, line)
			}
			compareNative(t, tmpl, line)
		}
	}
	if natives < 28 {
		t.Errorf("%d default templates have a native matcher, want all 28 but TAI64N's two", natives)
	}
}

// compareNative compares the native and the machine on one line, for the
// leftmost search and for a match at each position.
func compareNative(t *testing.T, tmpl *template, line string) {
	t.Helper()
	m := &machine{budget: 1 << 30}
	var nh, mh hit
	c := newCall(line)
	res := tmpl.searchNative(&c, len(line), &nh)
	if res != nativeUnsure {
		found := m.search(tmpl.prog, line, len(line))
		if found {
			tmpl.capture(m, &mh)
		}
		if found != (res == nativeYes) || found && !sameHit(&nh, &mh) {
			t.Fatalf("template %q on %q:\n native %v %+v\n machine %v %+v", tmpl.regex, line, res, nh, found, mh)
		}
	}
	if tmpl.nbegin == beginLine {
		return
	}
	for p := 0; p <= len(line); p++ {
		c := newCall(line)
		var ah, vh hit
		got := tmpl.matchAt(&c, p, &ah)
		vm := &machine{budget: 1 << 30}
		vm.reset(tmpl.prog, line)
		want := vm.run(0, int32(p), -1)
		if want {
			tmpl.capture(vm, &vh)
		}
		if got != want || got && !sameHit(&ah, &vh) {
			t.Fatalf("template %q on %q at %d:\n native %v %+v\n machine %v %+v", tmpl.regex, line, p, got, ah, want, vh)
		}
	}
}

func sameHit(a, b *hit) bool {
	return a.start == b.start && a.a == b.a && a.b == b.b && a.f.n == b.f.n && a.f.vals == b.f.vals
}

// FuzzNativeMatchesMachine is TestNativeMatchesMachine on fuzzed lines.
func FuzzNativeMatchesMachine(f *testing.F) {
	for _, s := range nativeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if len(line) > 200 {
			return
		}
		for _, tmpl := range defaults().all {
			if tmpl.native != nil {
				compareNative(t, tmpl, line)
			}
		}
	})
}
