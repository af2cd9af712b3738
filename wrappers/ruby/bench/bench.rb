# frozen_string_literal: true

# Per-step cost through the Ruby binding: N one-step tasks with a ~1 KB context and a no-op
# handler, on an SQLite file, run by a worker on this thread (run_once until nothing is ready).
# Task creation is not timed. Prints `ffi_us_per_step=<float>` (stdout) and details (stderr).
# Then the handler round trip without the database: M (TASKER_BENCH_CALLS, default 20000) calls of
# Client#call_handler with a ~1 KB context and a no-op handler, after 200 warm-up calls; prints
# `ffi_us_per_call=<float>`.
#   ruby bench/bench.rb [N]        (default 2000, or TASKER_BENCH_N)

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "tasker"
require "tmpdir"

n = Integer(ARGV[0] || ENV.fetch("TASKER_BENCH_N", 2000))
Dir.mktmpdir("tasker-rb-bench") do |dir|
  Tasker::Client.open("sqlite://#{dir}/bench.db") do |client|
    client.load_template({ "name" => "bench", "namespace_name" => "bench",
                           "step_templates" => [{ "name" => "noop", "handler" => "noop" }] })
    calls = 0
    client.register_handler("noop") { |_ctx| (calls += 1) && nil }
    blob = "x" * 1000
    n.times { |i| client.create_task("bench", namespace: "bench", context: { "i" => i, "blob" => blob }) }

    worker = Tasker::Worker.new(client)
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    ran = 0
    while (k = worker.run_once).positive?
      ran += k
    end
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    worker.close
    abort "bench: ran #{ran} steps (#{calls} handler calls), expected #{n}" unless ran == n && calls == n
    abort "bench: not every task completed" unless client.health["complete_tasks"] == n

    us = elapsed * 1_000_000 / n
    warn format("ruby bench: %d one-step tasks, ~1 KB context, SQLite file, run_once on one thread: %.3f s, %.1f steps/s",
                n, elapsed, n / elapsed)
    puts format("ffi_us_per_step=%.3f", us)
    $stdout.flush

    # The callback round trip alone: client.call_handler (tasker_call_handler) runs the handler
    # without the database, so this is encode + FFI call + decode + Ruby handler + outcome decode.
    calls_n = Integer(ENV.fetch("TASKER_BENCH_CALLS", 20_000))
    abort "bench: TASKER_BENCH_CALLS must be positive" unless calls_n.positive?
    client.register_handler("noop") { |_ctx| {} }
    context = { "task" => { "context" => { "i" => 0, "payload" => "x" * 1000 } },
                "step" => { "handler" => "noop", "name" => "noop" } }
    200.times do
      outcome = client.call_handler(context)
      abort "bench: call_handler returned #{outcome.inspect}" unless outcome["status"] == "completed"
    end
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    calls_n.times { client.call_handler(context) }
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    outcome = client.call_handler(context)
    abort "bench: call_handler returned #{outcome.inspect}" unless outcome == { "status" => "completed", "results" => {} }

    warn format("ruby bench: %d call_handler calls, ~1 KB context, no database: %.3f s, %.1f calls/s",
                calls_n, elapsed, calls_n / elapsed)
    puts format("ffi_us_per_call=%.3f", elapsed * 1_000_000 / calls_n)
  end
end
