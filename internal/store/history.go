package store

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// HistoryEntry is how often one jail banned a prefix, and when it last
// did. PutBans keeps it; it outlives the bans, for increments.
type HistoryEntry struct {
	Jail  string
	Count int
	Last  time.Time // start of the last ban
}

// recordBan counts ban in the history under k, its encoded canonical
// prefix, unless it is not newer than the last ban recorded for its jail (a
// ban stored again).
func recordBan(history *bolt.Bucket, k []byte, ban Ban) error {
	entries, err := readHistory(history, k)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(entries, func(e HistoryEntry) bool { return e.Jail == ban.Jail })
	switch {
	case i < 0:
		entries = append(entries, HistoryEntry{Jail: ban.Jail, Count: max(ban.Count, 1), Last: ban.Start})
	case ban.Start.UnixMilli() > entries[i].Last.UnixMilli():
		entries[i].Count = max(entries[i].Count+1, ban.Count)
		entries[i].Last = ban.Start
	default:
		return nil
	}
	return history.Put(k, encodeHistory(entries))
}

// readHistory returns the entries under the encoded prefix k, nil if none.
func readHistory(history *bolt.Bucket, k []byte) ([]HistoryEntry, error) {
	v := history.Get(k)
	if v == nil {
		return nil, nil
	}
	entries, err := decodeHistory(v)
	if err != nil {
		return nil, fmt.Errorf("history of %x: %w", k, err)
	}
	return entries, nil
}

// History returns how often each jail banned p, and when last.
func (s *Store) History(p netip.Prefix) ([]HistoryEntry, error) {
	c, err := canonical(p)
	if err != nil {
		return nil, fmt.Errorf("could not read the history of %v: %w", p, err)
	}
	var entries []HistoryEntry
	err = s.db.View(func(tx *bolt.Tx) error {
		entries, err = readHistory(tx.Bucket(historyBucket), appendPrefix(nil, c))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("could not read the history of %v: %w", p, err)
	}
	return entries, nil
}

// BanCount returns how often p was banned, by all jails together (what
// fail2ban calls bantime.overalljails). It returns 0 when the history
// cannot be read: a ban then lasts its jail's base time.
func (s *Store) BanCount(p netip.Prefix) int {
	entries, _ := s.History(p)
	n := 0
	for _, e := range entries {
		n += e.Count
	}
	return n
}

// JailHistory is the ban history of one jail; it implements jail.History.
type JailHistory struct {
	s    *Store
	jail string
}

// JailHistory returns the history of one jail's bans.
func (s *Store) JailHistory(jail string) JailHistory { return JailHistory{s: s, jail: jail} }

// BanCount returns how often the jail banned p; 0 when the history cannot
// be read.
func (h JailHistory) BanCount(p netip.Prefix) int {
	entries, _ := h.s.History(p)
	for _, e := range entries {
		if e.Jail == h.jail {
			return e.Count
		}
	}
	return 0
}

// PruneHistory forgets the history entries whose last ban started before
// cutoff, in one transaction, and returns how many it forgot. A caller
// would prune what is older than its largest increment maximum.
func (s *Store) PruneHistory(cutoff time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		h := tx.Bucket(historyBucket)
		changed := map[string][]HistoryEntry{}
		err := h.ForEach(func(k, v []byte) error {
			entries, err := decodeHistory(v)
			if err != nil {
				return fmt.Errorf("history of %x: %w", k, err)
			}
			kept := slices.DeleteFunc(entries, func(e HistoryEntry) bool { return e.Last.Before(cutoff) })
			if dropped := len(entries) - len(kept); dropped > 0 {
				n += dropped
				changed[string(k)] = kept
			}
			return nil
		})
		if err != nil {
			return err
		}
		for k, kept := range changed {
			if len(kept) == 0 {
				err = h.Delete([]byte(k))
			} else {
				err = h.Put([]byte(k), encodeHistory(kept))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("could not prune the ban history: %w", err)
	}
	return n, nil
}
