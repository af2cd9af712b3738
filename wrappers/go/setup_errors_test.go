package tasker

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Setup mistakes a newcomer makes get errors naming what to fix (issue #12 point 6).
func TestSetupErrors(t *testing.T) {
	t.Run("unreachable postgres names where and the variable", func(t *testing.T) {
		_, err := Open("postgres://u:pw@127.0.0.1:1/db", WithOptions(map[string]any{"connect_timeout_ms": 500}))
		if !errors.Is(err, ErrDatabase) {
			t.Fatalf("want a database error, got %v", err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "127.0.0.1:1") || !strings.Contains(msg, "TASKER_DATABASE_URL") || strings.Contains(msg, "pw@") {
			t.Errorf("unhelpful or leaking: %s", msg)
		}
	})
	t.Run("sqlite in a missing directory names it", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Open("sqlite://" + filepath.Join(dir, "no/such/dir/tasker.db"))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), filepath.Join(dir, "no/such/dir")) ||
			!strings.Contains(err.Error(), "does not exist") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("missing template file says no such file", func(t *testing.T) {
		c := openTemp(t)
		for _, src := range []string{"templates/missing", "templates/missing.yaml"} {
			err := c.LoadTemplate(src)
			if !errors.Is(err, ErrInvalidTemplate) || !strings.Contains(strings.ToLower(err.Error()), "no such file") {
				t.Errorf("LoadTemplate(%q): %v", src, err)
			}
		}
	})
	noop := func(*StepContext) (any, error) { return map[string]any{}, nil }
	t.Run("duplicate handler refused when asked", func(t *testing.T) {
		c := openTemp(t, WithOptions(map[string]any{"on_duplicate_handler": "error"}))
		if err := c.RegisterFunc("a", noop); err != nil {
			t.Fatal(err)
		}
		err := c.RegisterFunc("a", noop)
		if !errors.Is(err, ErrInvalidState) || !strings.Contains(err.Error(), "'a' is already registered") {
			t.Errorf("got %v", err)
		}
		relaxed := openTemp(t) // default: replaced with a warning
		for i := 0; i < 2; i++ {
			if err := relaxed.RegisterFunc("a", noop); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("worker reports missing handlers at start", func(t *testing.T) {
		c := openTemp(t, WithOptions(map[string]any{"on_missing_handler": "error"}))
		if err := c.LoadTemplateYAML("name: two\nnamespace_name: gotest\nversion: 1.0.0\nstep_templates:\n  - {name: first, handler: first}\n  - {name: second, handler: second, depends_on_step: first}\n"); err != nil {
			t.Fatal(err)
		}
		if err := c.RegisterFunc("first", noop); err != nil {
			t.Fatal(err)
		}
		w, err := c.NewWorker()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		w.Stop()
		err = w.Wait()
		if !errors.Is(err, ErrInvalidState) || !strings.Contains(err.Error(), "'second' (step 'second' of gotest/two 1.0.0)") {
			t.Errorf("got %v", err)
		}
	})
}
