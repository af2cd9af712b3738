# frozen_string_literal: true

require_relative "test_helper"

class PaymentGatewayDown < StandardError; end

class FailuresTest < Minitest::Test
  include TaskerTestHelper

  def run_single(handler_name = "h", retry_limit: 3, &block)
    client = new_client
    client.load_template(single_step_template("single_#{handler_name}", handler: handler_name,
                                                                         default_retry_limit: retry_limit))
    client.register_handler(handler_name, &block)
    task = client.create_task("single_#{handler_name}", namespace: "test", context: {})
    client.run_task(task)
    [client, client.task_view(task)]
  end

  # Mandatory: a raising handler leaves the process alive and the step failed with the
  # exception's class and message.
  def test_exception_becomes_failed_attempt_with_class_and_message
    calls = 0
    _client, view = run_single("raiser", retry_limit: 2) do |_ctx|
      calls += 1
      raise PaymentGatewayDown, "gateway returned 503 on call #{calls}"
    end
    step = view.step("s")
    assert_equal "error", view.state
    assert_equal "error", step["state"]
    assert_equal 2, step["attempts"]
    assert_equal 2, calls
    error = step["results"]["error"]
    assert_equal "PaymentGatewayDown", error["class"]
    assert_equal "gateway returned 503 on call 2", error["message"]
    refute error["permanent"]
    assert_match(/failures_test\.rb/, error["details"]["backtrace"].first)
    failed = step["transitions"].select { |t| t["to_state"] == "error" }
    assert_equal [true, false], failed.map { |t| t.dig("metadata", "retry_available") }
  end

  def test_builtin_and_namespaced_exception_classes
    _c, view = run_single("zero", retry_limit: 1) { |_| 1 / 0 }
    assert_equal "ZeroDivisionError", view.step_error("s")["class"]
    assert_equal "divided by 0", view.step_error("s")["message"]
    _c, view = run_single("nsd", retry_limit: 1) { |_| raise Tasker::StaleClaimError, "namespaced" }
    assert_equal "Tasker::StaleClaimError", view.step_error("s")["class"]
    _c, view = run_single("nme", retry_limit: 1) { |_| nil.upcase }
    assert_equal "NoMethodError", view.step_error("s")["class"]
    assert_equal "undefined method `upcase' for nil:NilClass", view.step_error("s")["message"] # no code snippet
  end

  def test_script_errors_and_messages_with_nul_and_bad_bytes
    _c, view = run_single("nie", retry_limit: 1) { |_| raise NotImplementedError, "later" }
    assert_equal "NotImplementedError", view.step_error("s")["class"]
    _c, view = run_single("nul", retry_limit: 1) { |_| raise "a\0b \xff".b }
    assert_equal "RuntimeError", view.step_error("s")["class"]
    assert_equal "ab \uFFFD", view.step_error("s")["message"]
  end

  def test_retryable_error_with_retry_after_sets_the_backoff
    _c, view = run_single("flaky", retry_limit: 3) do |ctx|
      raise Tasker::RetryableError.new("busy #{ctx.attempt}", retry_after: 0.03, error_class: "GatewayBusy") if ctx.attempt < 3

      { "ok" => ctx.attempt }
    end
    step = view.step("s")
    assert_equal "complete", step["state"]
    assert_equal 3, step["attempts"]
    assert_equal({ "ok" => 3 }, step["results"])
    backoffs = step["transitions"].select { |t| t["to_state"] == "error" }.map { |t| t.dig("metadata", "backoff_ms") }
    assert_equal [30, 30], backoffs
    classes = step["transitions"].select { |t| t["to_state"] == "error" }.map { |t| t.dig("metadata", "error_class") }
    assert_equal %w[GatewayBusy GatewayBusy], classes
  end

  def test_permanent_error_blocks_the_task_with_details
    client, view = run_single("decline", retry_limit: 5) do |_|
      raise Tasker::PermanentError.new("card declined", error_class: "CardDeclined", details: { "code" => "51" })
    end
    assert_equal "error", view.state
    assert_equal "blocked_by_failures", view.execution["execution_status"]
    step = view.step("s")
    assert_equal 1, step["attempts"]
    error = step["results"]["error"]
    assert_equal "CardDeclined", error["class"]
    assert_equal "card declined", error["message"]
    assert error["permanent"]
    assert_equal({ "code" => "51" }, error["details"])
    assert_equal "blocked", client.execution_context(view.task_id)["health"]
  end

  def test_unencodable_output_is_a_failed_attempt
    _c, view = run_single("obj", retry_limit: 1) { |_| Object.new }
    assert_equal "NoMethodError", view.step_error("s")["class"] # msgpack cannot encode it
    _c, view = run_single("intkeys", retry_limit: 1) { |_| { 1 => 2 } }
    assert_equal "Tasker::InvalidArgumentError", view.step_error("s")["class"] # libtasker refuses it
    _c, view = run_single("bigint", retry_limit: 1) { |_| { "n" => 2**70 } }
    assert_equal "RangeError", view.step_error("s")["class"]
  end

  def test_unencodable_details_still_record_the_failure
    _c, view = run_single("baddetails", retry_limit: 1) do |_|
      raise Tasker::PermanentError.new("with odd details", error_class: "Odd", details: { 1 => Object.new })
    end
    assert_equal "Odd", view.step_error("s")["class"]
    assert_equal "with odd details", view.step_error("s")["message"]
  end

  # Not a failure of the step: the run is interrupted, the step is ready again, no attempt counted.
  def test_interrupt_in_a_handler_aborts_the_call_and_is_raised_after_it
    client = new_client
    client.load_template(single_step_template("intr", handler: "intr", default_retry_limit: 1))
    client.register_handler("intr") { |_| raise Interrupt }
    task = client.create_task("intr", namespace: "test", context: {})
    assert_raises(Interrupt) { client.run_task(task) }
    step = client.task_view(task).step("s")
    assert_equal ["pending", 0], [step["state"], step["attempts"]]
    assert_nil client.task_view(task).step_error("s")
    assert_nil Tasker::CallScope.pending_fatal
    client.register_handler("intr") { |_| { "ok" => true } } # the process is alive and the client usable
    assert_equal "complete", client.run_task(task)["task_state"]
  end

  def test_heartbeat_inside_and_outside_the_handler
    kept = nil
    expiry = nil
    _c, view = run_single("hb") do |ctx|
      kept = ctx
      expiry = ctx.heartbeat
      { "ok" => true }
    end
    assert_equal "complete", view.state
    assert_kind_of Time, expiry
    assert_operator expiry, :>, Time.now
    assert_raises(Tasker::InvalidStateError) { kept.heartbeat }
  end

  def test_closing_the_client_from_its_own_handler_is_refused
    client = new_client
    client.load_template(single_step_template("selfclose", handler: "selfclose", default_retry_limit: 1))
    client.register_handler("selfclose") { |_| client.close }
    task = client.create_task("selfclose", namespace: "test", context: {})
    client.run_task(task)
    refute client.closed?
    assert_equal "Tasker::InvalidStateError", client.task_view(task).step_error("s")["class"]
  end

  def test_handler_may_call_back_into_the_client
    client = new_client
    client.load_template(single_step_template("nested", handler: "nested"))
    client.register_handler("nested") { |ctx| { "state" => client.task_view(ctx.task_id).step("s")["state"] } }
    task = client.create_task("nested", namespace: "test", context: {})
    client.run_task(task)
    assert_equal({ "state" => "in_progress" }, client.task_view(task).step("s")["results"])
  end
end
