package tasker

import (
	"strings"
)

// BatchesKey is the output key by which a batchable handler lists its batches.
const BatchesKey = "batches"

// ToleratedKey marks, in a convergence step's input, a batch failure that a
// continue_on_failure fan-out tolerated.
const ToleratedKey = "tolerated"

// Batches is the output of a `type: batchable` step's handler: one worker step per spec, each
// spec becoming its worker's inputs (ctx.Inputs(); docs/DYNAMIC_WORKFLOWS.md). More than
// the template's max_batches fails the step permanently (class "TooManyBatches"). Add other
// results to the map as needed: they are stored beside the batches.
func Batches(specs ...any) map[string]any {
	list := make([]any, len(specs))
	copy(list, specs)
	return map[string]any{BatchesKey: list}
}

// NoBatches is a batchable handler's output that creates no worker: the convergence step
// still runs.
func NoBatches() map[string]any { return Batches() }

// BatchResults splits a convergence step's dependency results into the batches of worker
// (instances "<worker>_001", ...; their names sort in batch order): succeeded maps a name to
// its result, failed to its error document. Failed batches appear only under
// `failure: continue_on_failure`, as the failures the fan-out tolerated.
func BatchResults(deps map[string]any, worker string) (succeeded, failed map[string]any) {
	succeeded, failed = map[string]any{}, map[string]any{}
	for name, r := range deps {
		k, ok := strings.CutPrefix(name, worker+"_")
		if !ok || k == "" || strings.Trim(k, "0123456789") != "" {
			continue
		}
		if m, isMap := r.(map[string]any); isMap && m[ToleratedKey] == true && m["error"] != nil {
			failed[name] = m["error"]
		} else {
			succeeded[name] = r
		}
	}
	return succeeded, failed
}
