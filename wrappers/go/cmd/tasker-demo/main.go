// Command tasker-demo runs the order-fulfillment workflow through the Go binding:
//
//	validate_order -> (reserve_inventory, check_fraud) -> process_payment -> ship_order
//
// process_payment fails once with a retryable error asking for a retry after 1 s. It runs on
// TASKER_DATABASE_URL, or the SQLite file given with -db (default tasker.db in the current
// directory, like the other demos).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	tasker "github.com/libtasker/tasker-go"
)

type gatewayBusy struct{ status int }

func (e *gatewayBusy) Error() string      { return fmt.Sprintf("payment gateway busy (%d)", e.status) }
func (e *gatewayBusy) ErrorClass() string { return "GatewayBusy" }

func main() {
	tpl := flag.String("template", "examples/templates/order_fulfillment.yaml", "template file")
	db := flag.String("db", "tasker.db", "SQLite file used when TASKER_DATABASE_URL is unset")
	flag.Parse()
	url := os.Getenv("TASKER_DATABASE_URL")
	if url == "" {
		url = "sqlite://" + *db
	}
	if err := run(url, *tpl); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(url, tpl string) error {
	client, err := tasker.Open(url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer client.Close()
	if err := client.LoadTemplate(tpl); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	for _, step := range []string{"validate_order", "reserve_inventory", "check_fraud", "process_payment", "ship_order"} {
		step := step
		err := client.RegisterFunc(step, func(ctx *tasker.StepContext) (any, error) {
			if step == "process_payment" && ctx.Attempt() == 1 {
				return nil, tasker.Retryable(&gatewayBusy{429}, time.Second)
			}
			out := map[string]any{"step": step, "order_id": ctx.Context()["order_id"]}
			if step == "validate_order" {
				var total int64
				items, _ := ctx.Context()["items"].([]any)
				for _, it := range items {
					m, _ := it.(map[string]any)
					q, _ := m["qty"].(int64)
					p, _ := m["price_cents"].(int64)
					total += q * p
				}
				out["total_cents"] = total
			}
			return out, nil
		})
		if err != nil {
			return fmt.Errorf("handler %s: %w", step, err)
		}
	}
	sub, err := client.Subscribe([]string{"step.execution_requested", "step.completed", "step.failed",
		"task.start_requested", "task.completed", "task.failed"}, printEvent)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Close()

	orderID := fmt.Sprintf("ORD-%d", time.Now().UnixNano())
	id, _, err := client.CreateTask(tasker.TaskRequest{
		Name: "order_fulfillment", Namespace: "ecommerce", Initiator: "go demo",
		Context: map[string]any{
			"order_id": orderID, "customer": "ada@example.com",
			"items": []map[string]any{
				{"sku": "BOOK-1", "qty": 2, "price_cents": 1999},
				{"sku": "PEN-9", "qty": 1, "price_cents": 350},
			},
		},
	})
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	fmt.Printf("libtasker %s (Go binding) - order %s, task %d on %s\n", tasker.Version(), orderID, id, url)
	start := time.Now()
	if _, err := client.RunTask(id); err != nil {
		return fmt.Errorf("run task: %w", err)
	}
	view, err := client.TaskView(id)
	if err != nil {
		return fmt.Errorf("task view: %w", err)
	}
	fmt.Printf("\n%-18s %-12s %8s %12s\n", "step", "state", "attempts", "duration ms")
	for _, s := range view.Steps {
		fmt.Printf("%-18s %-12s %8d %12d\n", s.Name, s.State, s.Attempts, s.Duration().Milliseconds())
	}
	fmt.Printf("\ntask %d: %s in %d ms\n", id, view.State, time.Since(start).Milliseconds())
	h, err := client.Health()
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	fmt.Printf("database health: tasks total=%d complete=%d error=%d in_progress=%d pending=%d; "+
		"steps total=%d complete=%d error=%d in_backoff=%d\n",
		h.TotalTasks, h.CompleteTasks, h.ErrorTasks, h.InProgressTasks, h.PendingTasks,
		h.TotalSteps, h.CompleteSteps, h.ErrorSteps, h.InBackoffSteps)
	if view.State != "complete" {
		return errors.New("the task did not complete")
	}
	return nil
}

func printEvent(e tasker.Event) {
	p := e.Payload
	switch e.Name {
	case "step.execution_requested":
		fmt.Printf("  > %-18s started (attempt %v)\n", e.StepName, p["attempt"])
	case "step.completed":
		fmt.Printf("  + %-18s finished in %v ms\n", e.StepName, p["execution_duration_ms"])
	case "step.failed":
		retry := "no retry"
		if ok, _ := p["retry_available"].(bool); ok {
			retry = fmt.Sprintf("retry in %v ms", p["backoff_ms"])
		}
		fmt.Printf("  ! %-18s failed: %v [%v] -> %s\n", e.StepName, p["error_message"], p["error_class"], retry)
	default:
		fmt.Printf("  * %s\n", strings.TrimSpace(e.Name))
	}
}
