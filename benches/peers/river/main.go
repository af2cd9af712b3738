// River side of `bench run --only peers` (examples/bench/peers.rs runs it; docs/PERFORMANCE.md
// describes the method). One process per phase, database URL in PEER_URL:
//
//	river-peer setup N                    migrate, then insert N no-op jobs (InsertMany); exits
//	river-peer work WORKERS MODE N CAP_S  MODE defaults (MaxWorkers WORKERS) or batching
//	                                      (MaxWorkers 100, FetchCooldown 1 ms); runs until N jobs
//	                                      completed or CAP_S seconds; prints jobs=, elapsed_s=
//	river-peer latency STEPS SAMPLES WARM CAP_S
//	                                      one idle client (defaults, 1 worker); per sample inserts
//	                                      a chain of STEPS jobs (each inserts the next) and waits
//	                                      for the last one's completed event; stops after SAMPLES
//	                                      (after WARM unmeasured ones) or CAP_S seconds, but not
//	                                      before 5 samples; prints samples_ms=
//
// "Completed" is River's EventKindJobCompleted, which the client emits after its completer has
// written the completed state to the database.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

type NoopArgs struct {
	// Remaining jobs of the chain after this one (latency); 0 for a plain no-op job.
	Remaining int `json:"remaining"`
}

func (NoopArgs) Kind() string { return "noop" }

type NoopWorker struct {
	river.WorkerDefaults[NoopArgs]
}

func (w *NoopWorker) Work(ctx context.Context, job *river.Job[NoopArgs]) error {
	if job.Args.Remaining > 0 {
		_, err := river.ClientFromContext[pgx.Tx](ctx).Insert(ctx, NoopArgs{Remaining: job.Args.Remaining - 1}, nil)
		return err
	}
	return nil
}

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "river-peer: "+format+"\n", a...)
	os.Exit(1)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		die("bad number %q", s)
	}
	return n
}

func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newClient(pool *pgxpool.Pool, workers int, batching bool) *river.Client[pgx.Tx] {
	ws := river.NewWorkers()
	river.AddWorker(ws, &NoopWorker{})
	cfg := &river.Config{
		Logger:  quiet(),
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		Workers: ws,
	}
	if batching {
		// River's batch is its worker count (a fetch claims up to MaxWorkers jobs, the completer
		// batches completions): many workers and a short fetch cooldown, whatever the row's
		// worker count.
		cfg.Queues[river.QueueDefault] = river.QueueConfig{MaxWorkers: 100}
		cfg.FetchCooldown = time.Millisecond
	}
	c, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		die("new client: %v", err)
	}
	return c
}

func main() {
	if len(os.Args) < 2 {
		die("usage: river-peer setup N | work WORKERS MODE N CAP_S | latency STEPS SAMPLES WARM CAP_S")
	}
	ctx := context.Background()
	url := os.Getenv("PEER_URL")
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		die("PEER_URL: %v", err)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "setup":
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			die("connect: %v", err)
		}
		defer pool.Close()
		m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: quiet()})
		if err != nil {
			die("migrator: %v", err)
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			die("migrate: %v", err)
		}
		n := atoi(args[0])
		c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: quiet()})
		if err != nil {
			die("insert-only client: %v", err)
		}
		for done := 0; done < n; {
			k := min(1000, n-done)
			params := make([]river.InsertManyParams, k)
			for i := range params {
				params[i] = river.InsertManyParams{Args: NoopArgs{}}
			}
			if _, err := c.InsertMany(ctx, params); err != nil {
				die("insert: %v", err)
			}
			done += k
		}
	case "work":
		workers, mode, n, capS := atoi(args[0]), args[1], atoi(args[2]), atoi(args[3])
		pcfg.MaxConns = int32(max(4, workers+2))
		if mode == "batching" {
			// River's own pool default (4 or the CPU count) is not an engine setting; enough
			// connections that 100 workers' completions are not starved.
			pcfg.MaxConns = 20
		}
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			die("connect: %v", err)
		}
		c := newClient(pool, workers, mode == "batching")
		events, cancel := c.SubscribeConfig(&river.SubscribeConfig{ChanSize: n + 1000, Kinds: []river.EventKind{river.EventKindJobCompleted}})
		start := time.Now()
		if err := c.Start(ctx); err != nil {
			die("start: %v", err)
		}
		deadline := time.After(time.Duration(capS) * time.Second)
		done := 0
	loop:
		for done < n {
			select {
			case <-events:
				done++
			case <-deadline:
				break loop
			}
		}
		elapsed := time.Since(start)
		cancel()
		stopCtx, stop := context.WithTimeout(ctx, 30*time.Second)
		defer stop()
		if err := c.Stop(stopCtx); err != nil {
			die("stop: %v", err)
		}
		pool.Close()
		fmt.Printf("jobs=%d\nelapsed_s=%.6f\n", done, elapsed.Seconds())
	case "latency":
		steps, samples, warm, capS := atoi(args[0]), atoi(args[1]), atoi(args[2]), atoi(args[3])
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			die("connect: %v", err)
		}
		c := newClient(pool, 1, false)
		events, cancel := c.Subscribe(river.EventKindJobCompleted)
		if err := c.Start(ctx); err != nil {
			die("start: %v", err)
		}
		var out []string
		began := time.Now()
		for i := 0; i < samples+warm && (time.Since(began) < time.Duration(capS)*time.Second || len(out) < 5); i++ {
			t0 := time.Now()
			if _, err := c.Insert(ctx, NoopArgs{Remaining: steps - 1}, nil); err != nil {
				die("insert: %v", err)
			}
			for last := false; !last; {
				select {
				case ev := <-events:
					var a NoopArgs
					if err := json.Unmarshal(ev.Job.EncodedArgs, &a); err != nil {
						die("event args: %v", err)
					}
					last = a.Remaining == 0
				case <-time.After(30 * time.Second):
					die("no completed event within 30 s")
				}
			}
			if i >= warm {
				out = append(out, fmt.Sprintf("%.4f", float64(time.Since(t0).Nanoseconds())/1e6))
			}
		}
		cancel()
		_ = c.Stop(ctx)
		pool.Close()
		fmt.Printf("samples_ms=%s\n", strings.Join(out, ","))
	default:
		die("unknown command %q", os.Args[1])
	}
}
