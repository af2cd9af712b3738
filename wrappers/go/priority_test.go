package tasker

import (
	"errors"
	"strings"
	"testing"
)

// A task request's Priority reaches the engine (docs/SCHEDULING.md "Priorities"): accepted in
// range, refused outside it with the engine's message.
func TestPriorityIsValidatedByTheEngine(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		s.template("prio", "", nil)
		high := int64(100)
		s.create(TaskRequest{Name: "prio", Priority: &high})
		over := int64(101)
		_, _, err := s.c.CreateTask(TaskRequest{Name: "prio", Namespace: s.ns, Context: map[string]any{}, Priority: &over})
		if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "priority must be within -100..=100") {
			t.Fatalf("priority 101: %v", err)
		}
	})
}
