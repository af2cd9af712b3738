# frozen_string_literal: true

# The child process of shutdown_test.rb: creates one single-step task whose handler prints
# "started" and sleeps (`seconds`, or forever when "forever"), then drives it with `mode`
# (run: Worker#run, join: Worker#start + #join, run_task: Client#run_task) on the main thread
# until a signal from the parent ends it. Prints "task ID" first. Args: mode url name seconds grace_ms.
require "tasker"

mode, url, name, seconds, grace_ms = ARGV
$stdout.sync = true
client = Tasker::Client.new(url, poll_interval_ms: 20, stop_grace_ms: Integer(grace_ms))
client.load_template({ "name" => name, "namespace_name" => "shutdown",
                       "step_templates" => [{ "name" => "s", "handler" => name, "default_retry_limit" => 3 }] })
client.register_handler(name) do |_ctx|
  puts "started"
  seconds == "forever" ? sleep : sleep(Float(seconds))
  { "slept" => seconds }
end
task = client.create_task(name, namespace: "shutdown", context: {})
puts "task #{task.task_id}"
case mode
when "run" then client.worker.run
when "join" then client.worker(threads: 2).start.join
when "run_task" then client.run_task(task)
else abort "unknown mode #{mode}"
end
puts "returned"
