# frozen_string_literal: true

require_relative "test_helper"

# Timeouts and cancellation a handler can see: #stop_reason / #cancelled?, #heartbeat raising
# CancelledError, a late outcome recorded as a Timeout failure, step_timeouts overriding.
class TimeoutsAndCancellationTest < Minitest::Test
  include TaskerTestHelper

  def test_a_running_handler_sees_its_task_cancelled
    client = new_client
    client.load_template(single_step_template("cancel_seen"))
    seen = []
    client.register_handler("cancel_seen") do |ctx|
      seen << [ctx.cancelled?, ctx.stop_reason]
      # Cancelled from another thread, as an operator would.
      Thread.new { client.cancel_task(ctx.task_id) }.join
      seen << [ctx.cancelled?, ctx.stop_reason]
      begin
        ctx.heartbeat
      rescue Tasker::CancelledError => e
        seen << [:heartbeat, e.class, e.is_a?(Tasker::StaleClaimError)]
      end
      { "stopped" => true }
    end
    task = client.create_task("cancel_seen", namespace: "test", context: {})
    client.run_task(task)
    assert_equal [[false, nil], [true, :cancelled], [:heartbeat, Tasker::CancelledError, true]], seen
    view = client.task_view(task)
    assert_equal "cancelled", view.state
    assert_nil view.step("s")["results"]
  end

  def test_an_outcome_past_the_timeout_is_a_retryable_timeout
    client = new_client
    client.load_template(single_step_template("timeout_seen", timeout_ms: 50, default_retry_limit: 2))
    seen = []
    client.register_handler("timeout_seen") do |ctx|
      sleep 0.2 if ctx.attempt == 1 # past the 50 ms timeout: the check below must say so
      seen << ctx.stop_reason
      { "attempt" => ctx.attempt }
    end
    task = client.create_task("timeout_seen", namespace: "test", context: {})
    client.run_task(task)
    s = client.task_view(task).step("s")
    assert_equal [:timed_out, nil], seen
    assert_equal({ "attempt" => 2 }, s["results"])
    classes = s["transitions"].select { |t| t["to_state"] == "error" }.map { |t| t["metadata"]["error_class"] }
    assert_equal ["Timeout"], classes
  end

  def test_step_timeouts_override_the_template
    client = new_client
    client.load_template(single_step_template("timeout_override", timeout_ms: 50))
    client.register_handler("timeout_override") do |_ctx|
      sleep 0.1
      { "done" => true }
    end
    task = client.create_task("timeout_override", namespace: "test", context: {}, step_timeouts: { "s" => 60_000 })
    client.run_task(task)
    assert_equal({ "done" => true }, client.task_view(task).step("s")["results"])
    err = assert_raises(Tasker::InvalidRequestError) do
      client.create_task("timeout_override", namespace: "test", context: {}, step_timeouts: { "nope" => 10 })
    end
    assert_includes err.message, "unknown step 'nope'"
  end

  def test_a_task_past_its_deadline_fails_and_later_steps_never_run
    client = new_client
    client.load_template({ "name" => "deadline", "namespace_name" => "test", "deadline_ms" => 60_000,
                           "step_templates" => [{ "name" => "a", "handler" => "deadline_a" },
                                                { "name" => "b", "handler" => "deadline_b", "depends_on_step" => "a" }] })
    ran = []
    client.register_handler("deadline_a") do |ctx|
      ran << ctx.step_name
      sleep 0.1 # past the request's 50 ms deadline
      { "done" => true }
    end
    client.register_handler("deadline_b") do |ctx|
      ran << ctx.step_name
      { "done" => true }
    end
    task = client.create_task("deadline", namespace: "test", context: {}, deadline_ms: 50)
    client.run_task(task)
    view = client.task_view(task)
    assert_equal "error", view.state
    assert_equal "Deadline", view.transitions.last["metadata"]["error_class"]
    assert_equal "cancelled", view.step("b")["state"]
    assert_equal ["a"], ran
    err = assert_raises(Tasker::InvalidRequestError) do
      client.create_task("deadline", namespace: "test", context: { "n" => 1 }, deadline_ms: 0)
    end
    assert_includes err.message, "deadline_ms"
  end
end
