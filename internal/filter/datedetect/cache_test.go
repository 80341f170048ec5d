package datedetect

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestMatchCachedEqualsMatch checks that a cache never changes an answer:
// lines whose dates repeat (or almost), in many formats, with now moving
// forwards and backwards over year boundaries and in several locations,
// through one cache, against Match without one.
func TestMatchCachedEqualsMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	locs := []*time.Location{time.UTC, zurich, time.FixedZone("X", -11*3600), time.FixedZone("Y", 14*3600), mustLoad("America/New_York")}
	dates := []string{
		"Dec 31 23:59:59", "Jan  1 00:00:00", "Jan  1 00:00:01", "Feb 29 12:00:00", "Dec 30 23:00:00",
		"Mar 10 02:30:00", "Nov  3 01:30:00", "Jun  2 10:00:00", "Jan  2 00:00:00", "Dec 31 00:00:00",
		"2024-12-31T23:59:59+14:00", "2025-01-01 00:00:00", "2024-02-29 12:00:00.123", "31/Dec/2024:23:59:59 -1100",
		"23:59:59", "00:00:01", "1735689599", "Mon Dec 31 23:59:59 2024", "Dec 31 23:59:59.5", "Feb 30 10:00:00",
	}
	detectors := []*Detector{Default(), fuzzDetectors[1], fuzzDetectors[2], fuzzDetectors[7], fuzzDetectors[8]}
	nows := []time.Time{
		time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 30, 0, 0, time.UTC),
		time.Date(2024, 12, 30, 23, 59, 59, 0, time.UTC), time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 28, 12, 0, 0, 0, time.UTC), time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC),
	}
	iterations := 30000
	if testing.Short() {
		iterations = 3000
	}
	for _, d := range detectors {
		var c Cache
		now := nows[0]
		loc := locs[0]
		date := dates[0]
		for i := range iterations {
			switch rng.IntN(8) {
			case 0:
				now = nows[rng.IntN(len(nows))]
			case 1:
				now = now.Add(time.Duration(rng.IntN(7200)-3600) * time.Second)
			case 2:
				loc = locs[rng.IntN(len(locs))]
			case 3, 4:
				date = dates[rng.IntN(len(dates))]
			}
			line := date + " web1 sshd[1]: x"
			switch rng.IntN(6) {
			case 0:
				line = mutate(rng, line)
			case 1:
				line = "[" + line
			}
			want, wantOK := d.Match(line, loc, now)
			got, gotOK := d.MatchCached(line, loc, now, &c)
			if got != want || gotOK != wantOK || !got.Time.Equal(want.Time) || got.Time.Location() != want.Time.Location() {
				t.Fatalf("%d: %q in %v at %v: cached %+v %v, want %+v %v", i, line, loc, now, got, gotOK, want, wantOK)
			}
		}
	}
}

// TestMatchCachedYearTurn follows a log over New Year: the cached year must
// change with now's.
func TestMatchCachedYearTurn(t *testing.T) {
	var c Cache
	d := Default()
	for _, tc := range []struct {
		now  time.Time
		want int
	}{
		{time.Date(2024, 12, 31, 23, 59, 0, 0, time.UTC), 2024},
		{time.Date(2025, 1, 1, 0, 1, 0, 0, time.UTC), 2024},   // Dec 31 2025 is far ahead: last year
		{time.Date(2025, 12, 29, 0, 0, 0, 0, time.UTC), 2024}, // two days ahead: still last year
		{time.Date(2025, 12, 30, 0, 0, 0, 1, time.UTC), 2025},
	} {
		m, ok := d.MatchCached("Dec 31 00:00:00 host x", time.UTC, tc.now, &c)
		want, _ := d.Match("Dec 31 00:00:00 host x", time.UTC, tc.now)
		if !ok || m != want || m.Time.Year() != tc.want {
			t.Errorf("at %v: %v (%v), want %v in %d", tc.now, m.Time, ok, want.Time, tc.want)
		}
	}
}

func ExampleDetector_MatchCached() {
	var c Cache
	d := Default()
	now := time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	for _, line := range []string{"Jun  2 10:00:00 host a", "Jun  2 10:00:00 host b"} {
		m, ok := d.MatchCached(line, time.UTC, now, &c)
		fmt.Println(m.Time, ok)
	}
	// Output:
	// 2025-06-02 10:00:00 +0000 UTC true
	// 2025-06-02 10:00:00 +0000 UTC true
}
