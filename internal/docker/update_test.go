package docker

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seawall/seawall/internal/inventory"
)

// removeContainer makes the fake forget a container, as after docker rm.
func (f *fakeEngine) removeContainer(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = slices.DeleteFunc(f.list, func(x string) bool { return x == id })
	delete(f.inspect, id)
}

func (f *fakeEngine) inspections() int64 {
	f.mu.Lock()
	ids := slices.Clone(f.list)
	f.mu.Unlock()
	var n int64
	for _, id := range ids {
		n += f.hitCount("/containers/" + id + "/json")
	}
	return n
}

// TestUpdate checks that a batch of container events inspects only the
// containers it names and gives the same facts as reading everything.
func TestUpdate(t *testing.T) {
	f := newFakeEngine(t)
	addMany(f, 50)
	s := newTestSource(t, f.host())
	ctx := context.Background()
	prev, err := s.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}

	newID := fmt.Sprintf("%064x", 1000)
	f.addContainer(inspectJSON(newID, "late", "nginx:1.25", true, "default", `{}`, `{}`,
		`{"bridge":`+endpointJSON(idBridge, "172.17.0.1", "172.17.9.9", "", "", "02:42:ac:11:09:09")+`}`))
	gone := prev.Containers[3].ID
	f.removeContainer(gone)
	restarted := prev.Containers[7].ID // died and started again in the batch
	before := f.inspections()

	c := Change{Events: []Event{
		{Type: "container", Action: "start", ID: newID, Name: "late"},
		{Type: "container", Action: "die", ID: gone},
		{Type: "container", Action: "die", ID: restarted},
		{Type: "container", Action: "start", ID: restarted},
		{Type: "container", Action: "destroy", ID: gone},
	}}
	got, err := s.Update(ctx, prev, c)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.inspections() - before; n != 2 {
		t.Errorf("%d inspections for a batch naming 2 running containers, want 2", n)
	}
	want, err := s.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, cmpAddrs); d != "" {
		t.Errorf("Update differs from Facts (-full +update):\n%s", d)
	}
	if slices.ContainsFunc(prev.Containers, func(c *inventory.Container) bool { return c.ID == newID }) {
		t.Error("Update changed prev")
	}
}

// TestUpdateFallsBack checks the batches Update must not trust prev for.
func TestUpdateFallsBack(t *testing.T) {
	f := newFakeEngine(t)
	addMany(f, 3)
	s := newTestSource(t, f.host())
	ctx := context.Background()
	stale := &inventory.Facts{}
	for name, c := range map[string]Change{
		"reconnected":     {Events: []Event{{Type: "stream", Action: "reconnected"}}},
		"network created": {Events: []Event{{Type: "network", Action: "create", ID: idBridge}}},
		"events dropped":  {Events: []Event{{Type: "container", Action: "die", ID: "x"}}, Dropped: 1},
	} {
		got, err := s.Update(ctx, stale, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Containers) != 3 {
			t.Errorf("%s: %d containers, want all 3 read again", name, len(got.Containers))
		}
	}
}

// TestUpdateNetworkConnect checks that a network event re-inspects the
// container it names.
func TestUpdateNetworkConnect(t *testing.T) {
	f := newFakeEngine(t)
	addMany(f, 2)
	s := newTestSource(t, f.host())
	ctx := context.Background()
	prev, err := s.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := prev.Containers[0].ID
	f.mu.Lock()
	f.inspect[id] = inspectJSON(id, "c000", "nginx:1.25", true, "default", `{}`, `{}`,
		`{"bridge":`+endpointJSON(idBridge, "172.17.0.1", "172.17.5.5", "", "", "02:42:ac:11:05:05")+`}`)
	f.mu.Unlock()
	got, err := s.Update(ctx, prev, Change{Events: []Event{{Type: "network", Action: "connect", ID: idBridge, ContainerID: id}}})
	if err != nil {
		t.Fatal(err)
	}
	if a := got.Containers[0].Endpoints[0].IPv4.String(); a != "172.17.5.5" {
		t.Errorf("address after connect %s, want 172.17.5.5", a)
	}
}
