package jail

import (
	"fmt"
	"math"
	"net/netip"
	"time"
)

// DefaultMaxTracked bounds the addresses with pending failures a jail keeps
// when Config.MaxTracked is zero. At about a hundred bytes each (with
// maxretry 5) that is some 10 MB under a flood of distinct addresses.
const DefaultMaxTracked = 100_000

// Longest is the longest finite ban: longer durations, given or reached by
// increments, are cut to it. It keeps every expiry far inside what a
// time.Time and the kernel's set timeouts can hold.
const Longest = 100 * 365 * 24 * time.Hour

// Config is one jail's counting and ban rules.
type Config struct {
	// Name identifies the jail in bans, history and status.
	Name string
	// MaxRetry failures of one prefix within FindTime ban it.
	MaxRetry int
	// FindTime is the sliding window failures are counted in.
	FindTime time.Duration
	// BanTime is how long a first ban lasts; negative means permanent.
	BanTime time.Duration
	// Increment, when its Factor is set, lengthens repeated bans.
	Increment Increment
	// Ignore lists sources never counted or banned, on top of loopback,
	// link-local and invalid sources. The caller adds the host's own and
	// Docker's gateway addresses here (and through SetIgnore when they
	// change), since banning those bans everyone.
	Ignore []netip.Prefix
	// V6Prefix is the prefix length IPv6 sources are grouped by; zero means
	// DefaultV6Prefix.
	V6Prefix int
	// MaxTracked bounds the prefixes with pending failures; when a new one
	// would exceed it, the one whose last failure came longest ago is
	// forgotten (and counted in Stats.Evicted). Zero means
	// DefaultMaxTracked.
	MaxTracked int
}

// Increment makes the nth ban of a prefix last BanTime*Factor^(n-1), capped
// at Max. The zero value turns increments off.
type Increment struct {
	// Factor multiplies the ban time for each earlier ban; 0 is off,
	// otherwise at least 1.
	Factor float64
	// Max caps incremented ban times; zero means no cap but Longest.
	Max time.Duration
}

// enabled reports whether increments apply.
func (inc Increment) enabled() bool { return inc.Factor != 0 }

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.V6Prefix == 0 {
		c.V6Prefix = DefaultV6Prefix
	}
	if c.MaxTracked == 0 {
		c.MaxTracked = DefaultMaxTracked
	}
	return c
}

// validate checks a Config after withDefaults.
func (c Config) validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("jail has no name")
	case c.MaxRetry < 1:
		return fmt.Errorf("maxretry must be at least 1, got %d", c.MaxRetry)
	case c.FindTime <= 0:
		return fmt.Errorf("findtime must be positive, got %v", c.FindTime)
	case c.BanTime == 0:
		return fmt.Errorf("bantime must not be zero (negative means permanent)")
	case c.V6Prefix < 1 || c.V6Prefix > 128:
		return fmt.Errorf("IPv6 prefix length must be within 1..128, got %d", c.V6Prefix)
	case c.MaxTracked < 1:
		return fmt.Errorf("the bound on tracked addresses must be positive, got %d", c.MaxTracked)
	}
	return c.Increment.validate(c.BanTime)
}

// validate checks an Increment against the jail's base ban time.
func (inc Increment) validate(base time.Duration) error {
	switch {
	case !inc.enabled():
		if inc.Max != 0 {
			return fmt.Errorf("increment max %v is set but its factor is not", inc.Max)
		}
		return nil
	case math.IsNaN(inc.Factor) || math.IsInf(inc.Factor, 0) || inc.Factor < 1:
		return fmt.Errorf("increment factor must be at least 1, got %v", inc.Factor)
	case inc.Max < 0:
		return fmt.Errorf("increment max must not be negative, got %v", inc.Max)
	case inc.Max > 0 && base > 0 && inc.Max < base:
		return fmt.Errorf("increment max %v is shorter than bantime %v", inc.Max, base)
	}
	return nil
}

// banDuration returns how long the nth ban (n >= 1) lasts; negative means
// permanent.
func (c Config) banDuration(n int) time.Duration {
	if c.BanTime < 0 {
		return -1
	}
	d := c.BanTime
	if c.Increment.enabled() && n > 1 {
		f := float64(c.BanTime) * math.Pow(c.Increment.Factor, float64(n-1))
		if f >= float64(Longest) {
			d = Longest
		} else {
			d = time.Duration(f)
		}
		if c.Increment.Max > 0 && d > c.Increment.Max {
			d = c.Increment.Max
		}
	}
	return min(d, Longest)
}
