package docker

import (
	"context"
	"slices"

	"github.com/docker/docker/api/types/container"

	"github.com/seawall/seawall/internal/inventory"
)

// Update returns prev brought up to date with the events of one Change. It
// inspects only the containers the events name and drops the ones that
// died without asking Docker, so the cost of an event does not grow with
// the number of containers running.
//
// It reads everything again (Facts) when it cannot trust prev: there is no
// prev, the event stream was (re)established (events may have been
// missed), events were dropped, or a network was created or destroyed.
func (s *Source) Update(ctx context.Context, prev *inventory.Facts, c Change) (*inventory.Facts, error) {
	if prev == nil || !incremental(c) {
		return s.Facts(ctx)
	}
	// The last event of a container settles it: a container that died and
	// started again within the batch is inspected, one that started and
	// died is dropped.
	inspect := map[string]bool{}
	var order []string
	for _, e := range c.Events {
		id, running := e.ID, true
		switch {
		case e.Type == "network":
			id = e.ContainerID
		case e.Action == "die" || e.Action == "destroy":
			running = false
		}
		if id == "" {
			continue
		}
		if _, seen := inspect[id]; !seen {
			order = append(order, id)
		}
		inspect[id] = running
	}

	var ids []string
	for _, id := range order {
		if inspect[id] {
			ids = append(ids, id)
		}
	}
	infos, err := s.inspectIDs(ctx, ids)
	if err != nil {
		return nil, err
	}

	next := &inventory.Facts{Resolved: prev.Resolved, Engine: prev.Engine}
	fresh := map[string]*inventory.Container{}
	for _, info := range infos {
		fresh[info.ID] = s.container(info)
	}
	for _, ctr := range prev.Containers {
		if _, touched := inspect[ctr.ID]; !touched {
			next.Containers = append(next.Containers, ctr)
		}
	}
	names := map[string]string{}
	for _, id := range ids {
		if ctr := fresh[id]; ctr != nil {
			next.Containers = append(next.Containers, ctr)
			names[id] = ctr.Name
		}
	}
	// Networks are copied: fillGateways adds the gateways the new
	// containers' endpoints report to networks whose IPAM names none.
	for _, n := range prev.Networks {
		cp := *n
		cp.Gateways = slices.Clone(n.Gateways)
		next.Networks = append(next.Networks, &cp)
	}
	fillGateways(next, infos)

	s.mu.Lock()
	for id, name := range names {
		s.names[id] = name
	}
	s.mu.Unlock()
	return next.Sorted(), nil
}

// incremental reports whether a Change can be applied to the facts it
// follows: only container and network-attachment events, none dropped.
func incremental(c Change) bool {
	if c.Dropped > 0 {
		return false
	}
	for _, e := range c.Events {
		switch {
		case e.Type == "container":
		case e.Type == "network" && (e.Action == "connect" || e.Action == "disconnect"):
		default:
			return false
		}
	}
	return true
}

// inspectIDs inspects containers by ID and returns the running ones, in
// order; one that is gone is left out.
func (s *Source) inspectIDs(ctx context.Context, ids []string) ([]*container.InspectResponse, error) {
	list := make([]container.Summary, len(ids))
	for i, id := range ids {
		list[i].ID = id
	}
	return s.inspectAll(ctx, list)
}

// Track follows Docker: it calls onFacts with the containers and networks
// each time they may have changed: at once (or with the error that Docker
// cannot be reached), again once the event stream is up, then after each
// batch of events, until ctx ends (see WatchChanges for the batching and
// reconnects). A batch of container events costs one inspection per
// container it names (Update). When Docker cannot be read, onFacts gets the
// error and the next batch reads everything again.
//
// onFacts is never called concurrently with itself; events keep being read
// while it runs.
func (s *Source) Track(ctx context.Context, onFacts func(f *inventory.Facts, reason string, err error)) error {
	cur, err := s.Facts(ctx)
	onFacts(cur, "start", err)
	return s.WatchChanges(ctx, func(c Change) {
		f, err := s.Update(ctx, cur, c)
		if err != nil {
			cur = nil
		} else {
			cur = f
		}
		onFacts(f, c.Reason, err)
	})
}
