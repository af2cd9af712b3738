package tasker

import (
	"reflect"
	"sort"
	"testing"
)

const routeYAML = `
name: route
namespace_name: gotest
version: 1.0.0
step_templates:
  - {name: route, handler: route, type: decision, candidates: [fast, slow]}
  - {name: fast, handler: leaf, depends_on_step: route}
  - {name: slow, handler: leaf, depends_on_step: route}
  - {name: done, handler: leaf, type: convergence, depends_on_steps: [fast, slow]}
`

func routeClient(t *testing.T, route HandlerFunc) *Client {
	t.Helper()
	c := openTemp(t)
	if err := c.LoadTemplate(routeYAML); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterFunc("route", route); err != nil {
		t.Fatal(err)
	}
	leaf := func(ctx *StepContext) (any, error) {
		parents := []string{}
		for name := range ctx.DependencyResults {
			parents = append(parents, name)
		}
		sort.Strings(parents)
		return map[string]any{"parents": parents}, nil
	}
	if err := c.RegisterFunc("leaf", leaf); err != nil {
		t.Fatal(err)
	}
	return c
}

// Activate chooses the steps a decision creates; the others never exist.
func TestActivateCreatesOnlyTheChosenSteps(t *testing.T) {
	c := routeClient(t, func(ctx *StepContext) (any, error) {
		out := Activate("fast", "slow")
		out["why"] = "test"
		return out, nil
	})
	id := mustCreate(t, c, TaskRequest{Name: "route", Namespace: "gotest"})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	v := mustView(t, c, id)
	if v.State != "complete" {
		t.Fatalf("state %s", v.State)
	}
	names := []string{}
	for _, s := range v.Steps {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	if want := []string{"done", "fast", "route", "slow"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("steps %v, expected %v", names, want)
	}
	if got := v.Step("route").ResultMap(); !reflect.DeepEqual(got["activate"], []any{"fast", "slow"}) || got["why"] != "test" {
		t.Fatalf("route results %v", got)
	}
	if got := v.Step("done").ResultMap()["parents"]; !reflect.DeepEqual(got, []any{"fast", "route", "slow"}) {
		t.Fatalf("done parents %v", got)
	}
}

func TestChoiceOutsideTheCandidatesFailsPermanently(t *testing.T) {
	c := routeClient(t, func(ctx *StepContext) (any, error) { return Activate("done"), nil })
	id := mustCreate(t, c, TaskRequest{Name: "route", Namespace: "gotest"})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	v := mustView(t, c, id)
	s := v.Step("route")
	if v.State != "error" || s.Attempts != 1 || s.Failure() == nil || s.Failure().Class != "InvalidDecision" {
		t.Fatalf("state %s, attempts %d, failure %+v", v.State, s.Attempts, s.Failure())
	}
}
