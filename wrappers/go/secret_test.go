package tasker

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The sentinel password of TestSecretNeverPrinted: it must appear in no output.
const secretSentinel = "S3NT1NEL-pw"

// TestSecretNeverPrinted runs every error path that sees a database URL (unsupported schemes,
// a refused connection, a live PostgreSQL when one is given, errors of calls on a connected
// client) in a child process with libtasker's logging at trace level, prints each error and
// client in every fmt form, and checks that the sentinel password appears nowhere in the
// child's output while the masked form does.
func TestSecretNeverPrinted(t *testing.T) {
	if os.Getenv("TASKER_SECRET_CHILD") == "1" {
		secretChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecretNeverPrinted$", "-test.v")
	cmd.Env = append(os.Environ(), "TASKER_SECRET_CHILD=1", "TASKER_LOG=trace")
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, text)
	}
	if strings.Contains(text, secretSentinel) {
		i := strings.Index(text, secretSentinel)
		lo := max(0, i-200)
		t.Fatalf("the password appears in the output:\n...%s...", text[lo:min(len(text), i+100)])
	}
	if !strings.Contains(text, ":***@") {
		t.Fatalf("no masked URL in the output: the error paths did not run?\n%s", text)
	}
}

func secretChild(t *testing.T) {
	InitLogging()
	show := func(what string, v any) {
		fmt.Printf("%s: %v | %+v | %#v\n", what, v, v, v)
	}
	fast := WithOptions(map[string]any{"connect_timeout_ms": 500})
	bad := []string{
		"Postgres://u:" + secretSentinel + "@127.0.0.1:1/db",
		" postgres://u:" + secretSentinel + "@127.0.0.1:1/db",
		"mysql://u:" + secretSentinel + "@127.0.0.1:1/db",
		"postgres://u:" + secretSentinel + "@127.0.0.1:1/db",
		"postgres://u@127.0.0.1:1/db?password=" + secretSentinel,
	}
	for _, u := range bad {
		c, err := Open(u, fast)
		if err == nil {
			c.Close()
			t.Fatalf("Open(%q) succeeded", strings.ReplaceAll(u, secretSentinel, "***"))
		}
		show("open error", err)
	}
	urls := []string{"sqlite://" + filepath.Join(t.TempDir(), "secret.db")}
	if pg := os.Getenv("TASKER_CONFORMANCE_PG_URL"); pg != "" {
		// The test server trusts local connections: a password in the URL is accepted and unused.
		if p, err := url.Parse(pg); err == nil {
			p.User = url.UserPassword(p.User.Username(), secretSentinel)
			urls = append(urls, p.String())
		}
	}
	for _, u := range urls {
		c, err := Open(u, fast)
		if err != nil {
			t.Fatalf("Open: %v", strings.ReplaceAll(err.Error(), secretSentinel, "***"))
		}
		show("client", c)
		_, _, err = c.CreateTask(TaskRequest{Name: "no_such_template"})
		show("create error", err)
		_, err = c.TaskView(-1)
		show("view error", err)
		show("template error", c.LoadTemplateYAML("name: [unclosed"))
		if h, err := c.Health(); err == nil {
			show("health", h)
		}
		c.Close()
		_, err = c.TaskView(1)
		show("closed client error", err)
	}
}
