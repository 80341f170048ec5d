package store

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Origin says what made a ban.
type Origin string

// Origins of bans.
const (
	OriginLog    Origin = "log"    // maxretry failures found in logs
	OriginManual Origin = "manual" // a person, e.g. with `seawall ban`
)

// Ban is a stored ban. Times are kept to the millisecond.
type Ban struct {
	Jail    string
	Prefix  netip.Prefix
	Start   time.Time
	Expires time.Time // zero: permanent
	Count   int       // the Count-th ban of Prefix in Jail
	Origin  Origin
}

// Permanent reports whether the ban never expires.
func (b Ban) Permanent() bool { return b.Expires.IsZero() }

// Key returns what identifies the ban in the store.
func (b Ban) Key() BanKey { return BanKey{Jail: b.Jail, Prefix: b.Prefix} }

// BanKey identifies a ban: a jail bans a prefix at most once at a time.
type BanKey struct {
	Jail   string
	Prefix netip.Prefix
}

// encode checks k and returns its encoding.
func (k BanKey) encode() ([]byte, error) {
	if err := checkJail(k.Jail); err != nil {
		return nil, err
	}
	p, err := canonical(k.Prefix)
	if err != nil {
		return nil, err
	}
	return banKey(k.Jail, p), nil
}

// PutBans stores bans (replacing those with the same key) and records them
// in the ban history, all in one transaction: either every ban is stored
// or, with an error, none is. A ban is counted in the history once: when
// its Start is later than the last recorded ban of its prefix in its jail.
func (s *Store) PutBans(bans []Ban) error {
	recs, err := encodeBans(bans)
	if err != nil {
		return fmt.Errorf("could not store %d bans: %w", len(bans), err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		// bbolt keeps a transaction's inserts in sorted in-memory nodes
		// and splits them only at commit: inserting in key order makes
		// each insert an append (100k random-order inserts take ~100x
		// longer).
		slices.SortFunc(recs, func(a, b banRecord) int { return bytes.Compare(a.key, b.key) })
		b := tx.Bucket(bansBucket)
		for _, r := range recs {
			if err := b.Put(r.key, r.value); err != nil {
				return fmt.Errorf("ban %s %v: %w", r.ban.Jail, r.ban.Prefix, err)
			}
		}
		slices.SortStableFunc(recs, func(a, b banRecord) int { return bytes.Compare(a.prefix, b.prefix) })
		h := tx.Bucket(historyBucket)
		for _, r := range recs {
			if err := recordBan(h, r.prefix, r.ban); err != nil {
				return fmt.Errorf("history of %v: %w", r.ban.Prefix, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("could not store %d bans: %w", len(bans), err)
	}
	return nil
}

// banRecord is a ban with its encodings.
type banRecord struct {
	ban        Ban
	key, value []byte
	prefix     []byte // the history key
}

// encodeBans checks and encodes bans.
func encodeBans(bans []Ban) ([]banRecord, error) {
	recs := make([]banRecord, len(bans))
	for i, ban := range bans {
		k, err := ban.Key().encode()
		if err == nil {
			recs[i].value, err = encodeBanValue(ban)
		}
		if err != nil {
			return nil, fmt.Errorf("ban %s %v: %w", ban.Jail, ban.Prefix, err)
		}
		p, _ := canonical(ban.Prefix) // checked by encode
		recs[i].ban, recs[i].key, recs[i].prefix = ban, k, appendPrefix(nil, p)
	}
	return recs, nil
}

// DeleteBans deletes the bans with the given keys, in one transaction;
// keys not stored are ignored. The history stays.
func (s *Store) DeleteBans(keys []BanKey) error {
	encoded := make([][]byte, len(keys))
	for i, key := range keys {
		k, err := key.encode()
		if err != nil {
			return fmt.Errorf("could not delete bans: %s %v: %w", key.Jail, key.Prefix, err)
		}
		encoded[i] = k
	}
	slices.SortFunc(encoded, bytes.Compare) // see PutBans
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bansBucket)
		for _, k := range encoded {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("could not delete %d bans: %w", len(keys), err)
	}
	return nil
}

// Bans returns every stored ban, expired ones included (the caller
// filters), ordered by jail, then prefix (IPv4 first).
func (s *Store) Bans() ([]Ban, error) {
	var out []Ban
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bansBucket).ForEach(func(k, v []byte) error {
			jail, p, err := decodeBanKey(k)
			if err != nil {
				return fmt.Errorf("ban key %x: %w", k, err)
			}
			ban := Ban{Jail: jail, Prefix: p}
			if err := decodeBanValue(v, &ban); err != nil {
				return fmt.Errorf("ban %s %v: %w", jail, p, err)
			}
			out = append(out, ban)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("could not read bans: %w", err)
	}
	return out, nil
}

// PruneExpired deletes the bans expired at now, in one transaction, and
// returns how many it deleted.
func (s *Store) PruneExpired(now time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bansBucket)
		// Deleting while iterating makes a bbolt cursor skip keys
		// (etcd-io/bbolt#146): collect first.
		var expired [][]byte
		ms := now.UnixMilli()
		err := b.ForEach(func(k, v []byte) error {
			if expiredAt(v, ms) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(expired)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("could not prune expired bans: %w", err)
	}
	return n, nil
}
