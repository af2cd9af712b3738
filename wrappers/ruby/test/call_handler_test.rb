# frozen_string_literal: true

require_relative "test_helper"

class InventoryOffline < StandardError; end

# Client#call_handler: one handler call without the database (tasker_call_handler).
class CallHandlerTest < Minitest::Test
  include TaskerTestHelper

  class Receipt < Tasker::StepHandler
    def process(ctx) = { "total" => ctx.dependency_result("price")["cents"] * ctx.inputs.fetch("qty") }
    def process_results(ctx, output) = output.merge("receipt" => "R-#{ctx.task_id}-#{ctx.attempt}")
  end

  def test_registered_handler_reads_the_context_and_completes
    client = new_client
    seen = nil
    client.register_handler("measure") do |ctx|
      seen = { task_id: ctx.task_id, step: ctx.step_name, claim: ctx.claim_token, thread: Thread.current }
      { "len" => ctx.context.fetch("payload").length, "handler" => ctx.handler_name }
    end
    outcome = client.call_handler({ "task" => { "task_id" => 7, "context" => { "payload" => "x" * 1234 } },
                                    "step" => { "name" => "measure_step", "handler" => "measure" },
                                    "claim_token" => "tok" })
    assert_equal({ "status" => "completed", "results" => { "len" => 1234, "handler" => "measure" } }, outcome)
    assert_equal({ task_id: 7, step: "measure_step", claim: "tok", thread: Thread.current }, seen)
    # Symbol keys are written as strings, like every other document the gem encodes.
    outcome = client.call_handler(task: { context: { payload: "abc" } }, step: { handler: "measure" })
    assert_equal({ "status" => "completed", "results" => { "len" => 3, "handler" => "measure" } }, outcome)
  end

  def test_process_results_runs_and_nothing_reaches_the_database
    client = new_client
    client.register_handler("receipt", Receipt)
    outcome = client.call_handler({ "task" => { "task_id" => 3 },
                                    "step" => { "handler" => "receipt", "attempt" => 2, "inputs" => { "qty" => 3 } },
                                    "dependency_results" => { "price" => { "cents" => 250 } } })
    assert_equal "completed", outcome["status"]
    assert_equal({ "total" => 750, "receipt" => "R-3-2" }, outcome["results"])
    health = client.health
    assert_equal 0, health["total_tasks"]
    assert_equal 0, health["total_steps"]
  end

  def test_raising_handler_is_a_failed_outcome_with_its_class
    client = new_client
    client.register_handler("offline") { |_ctx| raise InventoryOffline, "warehouse 3 is offline" }
    outcome = client.call_handler({ "step" => { "handler" => "offline" } })
    assert_equal "failed", outcome["status"]
    refute outcome.key?("results")
    error = outcome["error"]
    assert_equal "InventoryOffline", error["class"]
    assert_equal "warehouse 3 is offline", error["message"]
    assert_equal true, error["retryable"]
    assert_match(/call_handler_test\.rb/, error["details"]["backtrace"].first)
  end

  def test_step_failures_keep_class_retry_after_and_details
    client = new_client
    client.register_handler("busy") do |_ctx|
      raise Tasker::RetryableError.new("gateway busy", retry_after: 2, error_class: "GatewayBusy",
                                                       details: { "gateway" => "g1" })
    end
    client.register_handler("bad") { |_ctx| raise Tasker::PermanentError.new("bad card", error_class: "CardDeclined") }
    error = client.call_handler({ "step" => { "handler" => "busy" } }).fetch("error")
    assert_equal({ "class" => "GatewayBusy", "message" => "gateway busy", "retryable" => true,
                   "retry_after" => 2.0, "details" => { "gateway" => "g1" } }, error)
    error = client.call_handler({ "step" => { "handler" => "bad" } }).fetch("error")
    assert_equal "CardDeclined", error["class"]
    assert_equal false, error["retryable"]
  end

  def test_heartbeat_inside_call_handler_fails_with_stale_claim
    client = new_client
    raised = nil
    client.register_handler("beat") do |ctx|
      ctx.heartbeat
    rescue Tasker::StaleClaimError => e
      raised = e
      { "beat" => false }
    end
    outcome = client.call_handler({ "step" => { "handler" => "beat" } })
    assert_equal({ "status" => "completed", "results" => { "beat" => false } }, outcome)
    assert_kind_of Tasker::StaleClaimError, raised
    assert_equal 13, raised.code
  end

  def test_unknown_handler_is_a_failed_outcome
    client = new_client
    client.register_handler("known") { |_ctx| flunk "the wrong handler ran" }
    outcome = client.call_handler({ "step" => { "handler" => "missing_handler" } })
    assert_equal "failed", outcome["status"]
    assert_equal "HandlerNotFound", outcome["error"]["class"]
    assert_match(/missing_handler/, outcome["error"]["message"])
    assert_equal false, outcome["error"]["retryable"]
    # An empty context names no handler at all.
    assert_equal "HandlerNotFound", client.call_handler({}).dig("error", "class")
    assert_equal "HandlerNotFound", client.call_handler.dig("error", "class")
  end

  def test_malformed_context_raises_invalid_argument
    client = new_client
    called = false
    client.register_handler("h") { |_ctx| called = true }
    e = assert_raises(Tasker::InvalidArgumentError) do
      client.call_handler({ "step" => { "handler" => "h", "attempt" => "first" } })
    end
    assert_equal 2, e.code
    assert_equal "invalid_argument", e.name
    assert_match(/step context/, e.message)
    e = assert_raises(Tasker::InvalidArgumentError) { client.call_handler({ "step" => "h" }) }
    assert_match(/StepInfo/, e.message)
    refute called
    assert_raises(ArgumentError) { client.call_handler("step") }
    client.close
    assert_raises(Tasker::ClosedError) { client.call_handler({ "step" => { "handler" => "h" } }) }
  end
end
