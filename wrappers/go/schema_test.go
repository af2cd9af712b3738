package tasker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// The wrapper's document structs against docs/schema/documents.schema.json, the schema
// generated from libtasker's serde types (`make schema`): a field renamed on either side fails.

type schemaDef struct {
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	OneOf      []schemaDef                `json:"oneOf"`
}

func loadSchemaDefs(t *testing.T) map[string]schemaDef {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "schema", "documents.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]schemaDef `json:"$defs"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	return schema.Defs
}

// keys returns the properties a document may have and those it always has; for a tagged
// union, the properties of any variant and those every variant requires.
func (d schemaDef) keys() (props, required map[string]bool) {
	props, required = map[string]bool{}, map[string]bool{}
	variants := d.OneOf
	if len(variants) == 0 {
		variants = []schemaDef{d}
	}
	for _, v := range variants {
		for k := range v.Properties {
			props[k] = true
		}
		for _, k := range v.Required {
			required[k] = true
		}
	}
	return props, required
}

// msgpackKeys returns the msgpack tag names of a struct's exported fields.
func msgpackKeys(t *testing.T, typ reflect.Type) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
		if name == "" || name == "-" {
			t.Errorf("%s.%s has no msgpack name", typ.Name(), f.Name)
			continue
		}
		keys[name] = true
	}
	return keys
}

func TestDocumentStructsMatchSchema(t *testing.T) {
	defs := loadSchemaDefs(t)
	// Each document struct of this package and the schema definition of its document.
	structs := map[string]any{
		"TaskRequest":      TaskRequest{},
		"StepContext":      StepContext{},
		"TaskInfo":         TaskInfo{},
		"StepInfo":         StepInfo{},
		"ExecutionContext": ExecutionContext{},
		"TransitionView":   Transition{},
		"StepView":         StepView{},
		"TaskView":         TaskView{},
		"HealthCounts":     Health{},
		"StepOutcome":      StepOutcome{},
		"HandlerCall":      CallOutcome{},
		"StepError":        CallFailure{},
		"Event":            Event{},
		"TaskWait":         TaskWait{},
		"TaskFilter":       TaskFilter{},
		"StepFilter":       StepFilter{},
		"TaskSummary":      TaskSummary{},
		"StepSummary":      StepSummary{},
		"TaskSummaryPage":  TaskPage{},
		"StepSummaryPage":  StepPage{},
		"ScheduleSpec":     ScheduleSpec{},
		"Schedule":         Schedule{},
		"PurgeRequest":     PurgeRequest{},
		"PurgeTemplate":    PurgeTemplate{},
		"PurgeReport":      PurgeReport{},
	}
	names := make([]string, 0, len(structs))
	for name := range structs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		typ := reflect.TypeOf(structs[name])
		t.Run(typ.Name(), func(t *testing.T) {
			def, ok := defs[name]
			if !ok {
				t.Fatalf("the schema has no %s", name)
			}
			props, required := def.keys()
			keys := msgpackKeys(t, typ)
			for k := range keys {
				if !props[k] {
					t.Errorf("%s has field %q, which the %s document does not have", typ.Name(), k, name)
				}
			}
			for k := range required {
				if !keys[k] {
					t.Errorf("%s lacks %q, which the %s document always has", typ.Name(), k, name)
				}
			}
		})
	}
}

// The filter structs have a field for every field of the filter documents (none is required,
// so TestDocumentStructsMatchSchema alone would not notice one missing).
func TestFilterStructsHaveEveryFilterField(t *testing.T) {
	defs := loadSchemaDefs(t)
	for name, typ := range map[string]reflect.Type{"TaskFilter": reflect.TypeOf(TaskFilter{}),
		"StepFilter": reflect.TypeOf(StepFilter{})} {
		props, _ := defs[name].keys()
		if keys := msgpackKeys(t, typ); !reflect.DeepEqual(keys, props) {
			t.Errorf("%s has fields %v, the %s document %v", typ.Name(), keys, name, props)
		}
	}
}

// The StepContext accessors read the document fields the naming table names.
func TestStepContextAccessorsReadSchemaFields(t *testing.T) {
	defs := loadSchemaDefs(t)
	task, _ := defs["TaskInfo"].keys()
	step, _ := defs["StepInfo"].keys()
	for _, k := range []string{"context", "task_id"} {
		if !task[k] {
			t.Errorf("the task part of the step context has no %q", k)
		}
	}
	for _, k := range []string{"step_id", "name", "attempt", "retry_limit", "inputs", "handler_config"} {
		if !step[k] {
			t.Errorf("the step part of the step context has no %q", k)
		}
	}
	ctx := StepContext{
		Task: TaskInfo{TaskID: 7, Context: map[string]any{"k": "task"}},
		Step: StepInfo{StepID: 8, Name: "s", Attempt: 2, RetryLimit: 3,
			Inputs: map[string]any{"k": "in"}, HandlerConfig: map[string]any{"k": "cfg"}},
		DependencyResults: map[string]any{"up": map[string]any{"v": int64(1)}},
	}
	if ctx.Context()["k"] != "task" || ctx.TaskID() != 7 || ctx.StepID() != 8 || ctx.StepName() != "s" ||
		ctx.Attempt() != 2 || ctx.RetryLimit() != 3 || ctx.Inputs()["k"] != "in" ||
		ctx.HandlerConfig()["k"] != "cfg" || ctx.DependencyResult("up")["v"] != int64(1) {
		t.Errorf("accessors disagree with the fields: %+v", ctx)
	}
}
