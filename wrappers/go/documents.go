package tasker

import "time"

// TaskRequest describes a task to create. Only Name is required; Namespace defaults to
// "default" and Version to the latest registered version.
type TaskRequest struct {
	Name         string         `msgpack:"name"`
	Namespace    string         `msgpack:"namespace,omitempty"`
	Version      string         `msgpack:"version,omitempty"`
	Context      any            `msgpack:"context,omitempty"`
	Initiator    string         `msgpack:"initiator,omitempty"`
	SourceSystem string         `msgpack:"source_system,omitempty"`
	Reason       string         `msgpack:"reason,omitempty"`
	Tags         []string       `msgpack:"tags,omitempty"`
	BypassSteps  []string       `msgpack:"bypass_steps,omitempty"`
	StepInputs   map[string]any `msgpack:"step_inputs,omitempty"`
	// RunAt delays the start: no step is claimable before this time (milliseconds since the
	// Unix epoch). Not with DelayMs.
	RunAt *int64 `msgpack:"run_at,omitempty"`
	// DelayMs delays the start by this many milliseconds from creation. Not with RunAt.
	DelayMs *uint64 `msgpack:"delay_ms,omitempty"`
	// StepTimeouts overrides the template's timeout_ms of the named steps for this task
	// (milliseconds, 1 ms..24 h; docs/TIMEOUTS_AND_CANCELLATION.md).
	StepTimeouts map[string]uint64 `msgpack:"step_timeouts,omitempty"`
	// Priority (-100..=100, higher claimed first) overrides the template's priority; see
	// docs/SCHEDULING.md for the aging rule.
	Priority *int64 `msgpack:"priority,omitempty"`
	// DeadlineMs (milliseconds from creation) overrides the template's deadline_ms: past it an
	// unfinished task fails with class Deadline (docs/TIMEOUTS_AND_CANCELLATION.md).
	DeadlineMs *uint64 `msgpack:"deadline_ms,omitempty"`
}

// TaskInfo is the task part of a step context.
type TaskInfo struct {
	TaskID       int64          `msgpack:"task_id"`
	Namespace    string         `msgpack:"namespace"`
	Name         string         `msgpack:"name"`
	Version      string         `msgpack:"version"`
	Context      map[string]any `msgpack:"context"`
	Initiator    string         `msgpack:"initiator"`
	SourceSystem string         `msgpack:"source_system"`
	Reason       string         `msgpack:"reason"`
	Tags         []string       `msgpack:"tags"`
}

// StepInfo is the step part of a step context.
type StepInfo struct {
	StepID        int64          `msgpack:"step_id"`
	Name          string         `msgpack:"name"`
	Handler       string         `msgpack:"handler"`
	Attempt       int            `msgpack:"attempt"`
	RetryLimit    int            `msgpack:"retry_limit"`
	Retryable     bool           `msgpack:"retryable"`
	Inputs        map[string]any `msgpack:"inputs"`
	HandlerConfig map[string]any `msgpack:"handler_config"`
}

// ExecutionContext summarises where a task stands.
type ExecutionContext struct {
	TaskID                  int64   `msgpack:"task_id"`
	TaskState               string  `msgpack:"task_state"`
	TotalSteps              int64   `msgpack:"total_steps"`
	PendingSteps            int64   `msgpack:"pending_steps"`
	InProgressSteps         int64   `msgpack:"in_progress_steps"`
	CompletedSteps          int64   `msgpack:"completed_steps"`
	FailedSteps             int64   `msgpack:"failed_steps"`
	CancelledSteps          int64   `msgpack:"cancelled_steps"`
	ReadySteps              int64   `msgpack:"ready_steps"`
	PermanentlyBlockedSteps int64   `msgpack:"permanently_blocked_steps"`
	ExecutionStatus         string  `msgpack:"execution_status"`
	RecommendedAction       string  `msgpack:"recommended_action"`
	CompletionPercentage    float64 `msgpack:"completion_percentage"`
	Health                  string  `msgpack:"health"`
	NextRetryAt             *int64  `msgpack:"next_retry_at"`
	LastRetryAt             *int64  `msgpack:"last_retry_at"`
}

// Transition is one recorded state change of a task or step.
type Transition struct {
	FromState  *string        `msgpack:"from_state"`
	ToState    string         `msgpack:"to_state"`
	Metadata   map[string]any `msgpack:"metadata"`
	SortKey    int64          `msgpack:"sort_key"`
	MostRecent bool           `msgpack:"most_recent"`
	CreatedAt  int64          `msgpack:"created_at"`
}

// StepView is one step of a TaskView.
type StepView struct {
	StepID           int64          `msgpack:"step_id"`
	Name             string         `msgpack:"name"`
	Handler          string         `msgpack:"handler"`
	State            string         `msgpack:"state"`
	Attempts         int            `msgpack:"attempts"`
	RetryLimit       int            `msgpack:"retry_limit"`
	Retryable        bool           `msgpack:"retryable"`
	Skippable        bool           `msgpack:"skippable"`
	Inputs           map[string]any `msgpack:"inputs"`
	Results          any            `msgpack:"results"`
	LastAttemptedAt  *int64         `msgpack:"last_attempted_at"`
	ProcessedAt      *int64         `msgpack:"processed_at"`
	NextAttemptAt    *int64         `msgpack:"next_attempt_at"`
	BackoffRequestMs *int64         `msgpack:"backoff_request_ms"`
	Priority         int64          `msgpack:"priority"`   // claim priority, -100..=100
	TimeoutMs        *int64         `msgpack:"timeout_ms"` // per-attempt timeout; nil for none
	// The concurrency key the step counts against and its limit; nil for an unlimited step.
	ConcurrencyKey   *string      `msgpack:"concurrency_key"`
	ConcurrencyLimit *int64       `msgpack:"concurrency_limit"`
	Checkpoint       any          `msgpack:"checkpoint"` // the last one recorded; nil if none
	Parents          []string     `msgpack:"parents"`
	Transitions      []Transition `msgpack:"transitions"`
}

// StepFailure is the error recorded in a failed step's results (results.error).
type StepFailure struct {
	Message      string
	Class        string
	Permanent    bool
	RetryAfterMs *int64
	Details      any
	Attempt      int64
}

// Failure returns the error recorded in the step's results, or nil.
func (s *StepView) Failure() *StepFailure {
	res, _ := s.Results.(map[string]any)
	e, ok := res["error"].(map[string]any)
	if !ok {
		return nil
	}
	f := &StepFailure{Details: e["details"]}
	f.Message, _ = e["message"].(string)
	f.Class, _ = e["class"].(string)
	f.Permanent, _ = e["permanent"].(bool)
	if v, ok := e["retry_after_ms"].(int64); ok {
		f.RetryAfterMs = &v
	}
	f.Attempt, _ = e["attempt"].(int64)
	return f
}

// ResultMap returns the step's results as a map (nil when they are not one).
func (s *StepView) ResultMap() map[string]any {
	m, _ := s.Results.(map[string]any)
	return m
}

// Duration is the time between the last attempt's start and the step's completion.
func (s *StepView) Duration() time.Duration {
	if s.LastAttemptedAt == nil || s.ProcessedAt == nil {
		return 0
	}
	return time.Duration(*s.ProcessedAt-*s.LastAttemptedAt) * time.Millisecond
}

// TaskView is a task with its steps, results, transition history and execution context.
type TaskView struct {
	TaskID       int64            `msgpack:"task_id"`
	Namespace    string           `msgpack:"namespace"`
	Name         string           `msgpack:"name"`
	Version      string           `msgpack:"version"`
	State        string           `msgpack:"state"`
	Complete     bool             `msgpack:"complete"`
	Context      map[string]any   `msgpack:"context"`
	Initiator    *string          `msgpack:"initiator"`
	SourceSystem *string          `msgpack:"source_system"`
	Reason       *string          `msgpack:"reason"`
	Tags         []string         `msgpack:"tags"`
	BypassSteps  []string         `msgpack:"bypass_steps"`
	IdentityHash string           `msgpack:"identity_hash"`
	RequestedAt  int64            `msgpack:"requested_at"`
	CompletedAt  *int64           `msgpack:"completed_at"`
	DeadlineAt   *int64           `msgpack:"deadline_at"` // when it fails if unfinished; nil for none
	Steps        []StepView       `msgpack:"steps"`
	Transitions  []Transition     `msgpack:"transitions"`
	Execution    ExecutionContext `msgpack:"execution"`
}

// Step returns the step called name, or nil.
func (v *TaskView) Step(name string) *StepView {
	for i := range v.Steps {
		if v.Steps[i].Name == name {
			return &v.Steps[i]
		}
	}
	return nil
}

func (v *TaskView) normalize() {
	v.Context = normMap(v.Context)
	for i := range v.Steps {
		s := &v.Steps[i]
		s.Inputs = normMap(s.Inputs)
		s.Results = Normalize(s.Results)
		s.Checkpoint = Normalize(s.Checkpoint)
		normTransitions(s.Transitions)
	}
	normTransitions(v.Transitions)
}

func normTransitions(ts []Transition) {
	for i := range ts {
		ts[i].Metadata = normMap(ts[i].Metadata)
	}
}

func normMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return Normalize(m).(map[string]any)
}

// Health counts tasks and steps by state across the database.
type Health struct {
	TotalTasks            int64 `msgpack:"total_tasks"`
	PendingTasks          int64 `msgpack:"pending_tasks"`
	InProgressTasks       int64 `msgpack:"in_progress_tasks"`
	CompleteTasks         int64 `msgpack:"complete_tasks"`
	ErrorTasks            int64 `msgpack:"error_tasks"`
	CancelledTasks        int64 `msgpack:"cancelled_tasks"`
	ResolvedManuallyTasks int64 `msgpack:"resolved_manually_tasks"`
	TotalSteps            int64 `msgpack:"total_steps"`
	PendingSteps          int64 `msgpack:"pending_steps"`
	InProgressSteps       int64 `msgpack:"in_progress_steps"`
	CompleteSteps         int64 `msgpack:"complete_steps"`
	ErrorSteps            int64 `msgpack:"error_steps"`
	CancelledSteps        int64 `msgpack:"cancelled_steps"`
	ResolvedManuallySteps int64 `msgpack:"resolved_manually_steps"`
	RetryableErrorSteps   int64 `msgpack:"retryable_error_steps"`
	ExhaustedRetrySteps   int64 `msgpack:"exhausted_retry_steps"`
	InBackoffSteps        int64 `msgpack:"in_backoff_steps"`
	ExpiredLeaseSteps     int64 `msgpack:"expired_lease_steps"`
	// This client's workers: failed loop iterations, in all and in a row, and the last error.
	WorkerFailures       uint64  `msgpack:"worker_failures"`
	WorkerFailuresInARow uint64  `msgpack:"worker_failures_in_a_row"`
	LastWorkerError      *string `msgpack:"last_worker_error"`
}

// StepOutcome is the result of HandleStep.
type StepOutcome struct {
	Outcome       string `msgpack:"outcome"` // completed, failed, skipped, discarded, stale
	StepID        int64  `msgpack:"step_id"`
	TaskID        int64  `msgpack:"task_id"`
	TaskCompleted bool   `msgpack:"task_completed"`
	WillRetry     bool   `msgpack:"will_retry"`
	RetryDelayMs  int64  `msgpack:"retry_delay_ms"`
	TaskBlocked   bool   `msgpack:"task_blocked"`
	Reason        string `msgpack:"reason"`
}

// CallOutcome is the result of CallHandler: Status is "completed" (Results holds what the
// handler's hooks returned, an empty map for a nil output) or "failed" (Error says why).
type CallOutcome struct {
	Status  string       `msgpack:"status"`  // completed, failed
	Results any          `msgpack:"results"` // completed only
	Error   *CallFailure `msgpack:"error"`   // failed only
}

// CallFailure is the failure of a CallHandler call: the handler's error (as it would be
// recorded for a step), or libtasker's own class for HandlerNotFound, NoOutput,
// PayloadTooLarge, a panic's type name.
type CallFailure struct {
	Message    string   `msgpack:"message"`
	Class      string   `msgpack:"class"`
	Retryable  bool     `msgpack:"retryable"`
	RetryAfter *float64 `msgpack:"retry_after"` // seconds; nil: the template's backoff
	Details    any      `msgpack:"details"`
}

// Event is a lifecycle event delivered to subscribers after commit.
type Event struct {
	Name      string         `msgpack:"name"`
	TaskID    int64          `msgpack:"task_id"`
	StepID    int64          `msgpack:"step_id"`
	StepName  string         `msgpack:"step_name"`
	FromState string         `msgpack:"from_state"`
	ToState   string         `msgpack:"to_state"`
	Timestamp int64          `msgpack:"timestamp"`
	Payload   map[string]any `msgpack:"payload"`
}
