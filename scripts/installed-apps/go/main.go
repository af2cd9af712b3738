// The installed-libtasker check in Go: installed-check TEMPLATE SQLITE_FILE (see ../README.md).
package main

import (
	"fmt"
	"os"
	"strings"

	tasker "github.com/libtasker/tasker-go"
)

func main() {
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "installed-go:", err)
		os.Exit(1)
	}
}

func run(template, db string) error {
	client, err := tasker.Open("sqlite://" + db)
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.LoadTemplateFile(template); err != nil {
		return err
	}
	err = client.RegisterFunc("hello", func(ctx *tasker.StepContext) (any, error) {
		return map[string]any{"text": fmt.Sprintf("hello %v", ctx.Context()["who"])}, nil
	})
	if err != nil {
		return err
	}
	err = client.RegisterFunc("shout", func(ctx *tasker.StepContext) (any, error) {
		text, _ := ctx.DependencyResult("hello")["text"].(string)
		return map[string]any{"text": strings.ToUpper(text)}, nil
	})
	if err != nil {
		return err
	}
	id, _, err := client.CreateTask(tasker.TaskRequest{Name: "installed_check", Context: map[string]any{"who": "ada"}})
	if err != nil {
		return err
	}
	if _, err := client.RunTask(id); err != nil {
		return err
	}
	view, err := client.TaskView(id)
	if err != nil {
		return err
	}
	fmt.Printf("installed-go: %s %v (libtasker %s)\n", view.State, view.Step("shout").ResultMap()["text"], tasker.Version())
	return nil
}
