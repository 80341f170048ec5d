package store

import (
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// SaveOffsets stores log read positions (opaque to the store: whatever a
// log source needs to resume, such as a file's identity and offset or a
// journal cursor) by key, all in one transaction. A nil value deletes its
// key.
func (s *Store) SaveOffsets(offsets map[string][]byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(offsetsBucket)
		// Sorted keys: bbolt writes fewer pages for ordered puts.
		for _, k := range slices.Sorted(maps.Keys(offsets)) {
			if k == "" {
				return fmt.Errorf("empty offset key")
			}
			var err error
			if v := offsets[k]; v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), v)
			}
			if err != nil {
				return fmt.Errorf("offset %q: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("could not save %d log offsets: %w", len(offsets), err)
	}
	return nil
}

// Offset returns the position saved under key, nil if there is none.
func (s *Store) Offset(key string) ([]byte, error) {
	var v []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		// A value is valid only within its transaction: copy it.
		v = slices.Clone(tx.Bucket(offsetsBucket).Get([]byte(key)))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("could not read log offset %q: %w", key, err)
	}
	return v, nil
}
