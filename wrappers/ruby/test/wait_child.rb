# frozen_string_literal: true

# The other process of query_test.rb's waits. Args: run URL HANDLER TASK_ID -- runs the task (its
# steps' handler is HANDLER) to the end and prints its final state; wait URL TASK_ID -- prints
# "waiting", then waits an hour for the task (a signal ends it).
require "tasker"

mode, url, *args = ARGV
$stdout.sync = true
# Polling every hour: on PostgreSQL only a NOTIFY (or a signal) can end these waits early.
Tasker::Client.open(url, poll_interval_ms: 3_600_000) do |client|
  case mode
  when "run"
    handler, task_id = args
    client.register_handler(handler) { |_ctx| { "by" => "child" } }
    puts client.run_task(Integer(task_id))["task_state"]
  when "wait"
    puts "waiting"
    client.wait_task(Integer(args[0]), 3600)
  else abort "unknown mode #{mode}"
  end
end
