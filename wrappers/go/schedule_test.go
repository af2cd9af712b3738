package tasker

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Cron schedules through the wrapper (docs/SCHEDULING.md): define, fire once per tick at a
// chosen time, disable, list, delete; bad expressions refused; on every backend (names are
// this case's own: the PostgreSQL database is shared by the suite).
func TestSchedules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		s.template("report", "", nil)
		name := s.ns + "-every-second"
		catchUp := uint32(2)
		stored, err := s.c.UpsertSchedule(ScheduleSpec{Name: name, Namespace: s.ns, Template: "report",
			Cron: "* * * * * *", Context: map[string]any{"kind": "daily"}, Missed: "catch_up", MaxCatchUp: &catchUp})
		if err != nil {
			t.Fatal(err)
		}
		if stored.Name != name || stored.TimeZone != "UTC" || stored.MaxCatchUp != 2 || !stored.Enabled {
			t.Fatalf("stored %+v", stored)
		}
		later := time.Now().Add(time.Hour)
		for want, round := range []uint64{2, 0} {
			created, err := s.c.FireDueSchedules(later)
			if err != nil || created != round {
				t.Fatalf("fire %d: created %d (want %d), %v", want, created, round, err)
			}
		}
		if ids := s.taskIDs(TaskFilter{Namespace: s.ns}); len(ids) != 2 {
			t.Fatalf("tasks %v", ids)
		}
		if found, err := s.c.SetScheduleEnabled(name, false); err != nil || !found {
			t.Fatalf("disable: %v %v", found, err)
		}
		list, err := s.c.Schedules()
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, sc := range list {
			if sc.Name == name {
				seen++
				if sc.Enabled || sc.LastTickAt == nil {
					t.Fatalf("listed %+v", sc)
				}
			}
		}
		if seen != 1 {
			t.Fatalf("listed %d times", seen)
		}
		if created, err := s.c.FireDueSchedules(later.Add(10 * time.Second)); err != nil || created != 0 {
			t.Fatalf("disabled fired %d, %v", created, err)
		}
		if deleted, err := s.c.DeleteSchedule(name); err != nil || !deleted {
			t.Fatalf("delete: %v %v", deleted, err)
		}
		if deleted, err := s.c.DeleteSchedule(name); err != nil || deleted {
			t.Fatalf("delete again: %v %v", deleted, err)
		}

		_, err = s.c.UpsertSchedule(ScheduleSpec{Name: "bad", Template: "report", Namespace: s.ns, Cron: "61 * * * *"})
		if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "cron expression '61 * * * *'") {
			t.Fatalf("bad cron: %v", err)
		}
		_, err = s.c.UpsertSchedule(ScheduleSpec{Name: "bad", Template: "missing", Namespace: s.ns, Cron: "* * * * *"})
		if !errors.Is(err, ErrUnknownTemplate) {
			t.Fatalf("unknown template: %v", err)
		}
	})
}
