package tasker

import (
	"reflect"
	"sort"
	"testing"
)

const fanoutYAML = `
name: fanout
namespace_name: gotest
version: 1.0.0
step_templates:
  - {name: split, handler: split, type: batchable, batch: {worker: work, max_batches: 10, failure: continue_on_failure}}
  - {name: work, handler: work, type: batch_worker, depends_on_step: split}
  - {name: report, handler: report, type: convergence, depends_on_steps: [work]}
`

func TestBatchHelpersBuildTheOutput(t *testing.T) {
	if got := Batches(map[string]any{"start": 0}); !reflect.DeepEqual(got, map[string]any{"batches": []any{map[string]any{"start": 0}}}) {
		t.Fatalf("Batches %v", got)
	}
	if got := NoBatches(); !reflect.DeepEqual(got, map[string]any{"batches": []any{}}) {
		t.Fatalf("NoBatches %v", got)
	}
	ok, failed := BatchResults(map[string]any{
		"split":       map[string]any{"n": 2},
		"work_002":    map[string]any{"error": map[string]any{"class": "Bad"}, "tolerated": true},
		"work_001":    map[string]any{"sum": 1},
		"workers_001": map[string]any{"sum": 9},
	}, "work")
	if !reflect.DeepEqual(ok, map[string]any{"work_001": map[string]any{"sum": 1}}) {
		t.Fatalf("succeeded %v", ok)
	}
	if !reflect.DeepEqual(failed, map[string]any{"work_002": map[string]any{"class": "Bad"}}) {
		t.Fatalf("failed %v", failed)
	}
}

// A continue_on_failure fan-out completes; its convergence reads which batch failed.
func TestFanoutReportsItsFailedBatch(t *testing.T) {
	c := openTemp(t)
	if err := c.LoadTemplate(fanoutYAML); err != nil {
		t.Fatal(err)
	}
	handlers := map[string]HandlerFunc{
		"split": func(ctx *StepContext) (any, error) {
			return Batches(map[string]any{"k": 0}, map[string]any{"k": 1}, map[string]any{"k": 2}), nil
		},
		"work": func(ctx *StepContext) (any, error) {
			// Inputs are normalized: integers are int64.
			if k, _ := ctx.Inputs()["k"].(int64); k == 1 {
				return nil, Permanent(Fail("BadBatch", "bad batch"))
			}
			return map[string]any{"k": ctx.Inputs()["k"]}, nil
		},
		"report": func(ctx *StepContext) (any, error) {
			ok, failed := BatchResults(ctx.DependencyResults, "work")
			names := []string{}
			for n := range ok {
				names = append(names, n)
			}
			sort.Strings(names)
			classes := map[string]any{}
			for n, e := range failed {
				classes[n] = e.(map[string]any)["class"]
			}
			return map[string]any{"ok": names, "failed": classes}, nil
		},
	}
	for name, h := range handlers {
		if err := c.RegisterFunc(name, h); err != nil {
			t.Fatal(err)
		}
	}
	id := mustCreate(t, c, TaskRequest{Name: "fanout", Namespace: "gotest"})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	v := mustView(t, c, id)
	if v.State != "complete" || v.Step("work_002").State != "error" {
		t.Fatalf("task %s, work_002 %s", v.State, v.Step("work_002").State)
	}
	want := map[string]any{"ok": []any{"work_001", "work_003"}, "failed": map[string]any{"work_002": "BadBatch"}}
	if got := v.Step("report").ResultMap(); !reflect.DeepEqual(got, want) {
		t.Fatalf("report %v", got)
	}
}
