package tasker

// ActivateKey is the output key by which a decision handler chooses its steps.
const ActivateKey = "activate"

// Activate is the output of a `type: decision` step's handler that creates the candidates
// names (none, one or several; docs/DYNAMIC_WORKFLOWS.md). A name that is not a candidate
// fails the step permanently (class "InvalidDecision"). Add other results to the map as
// needed: they are stored beside the choice.
func Activate(names ...string) map[string]any {
	list := make([]any, len(names))
	for i, n := range names {
		list[i] = n
	}
	return map[string]any{ActivateKey: list}
}
