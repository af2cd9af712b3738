# frozen_string_literal: true

require_relative "test_helper"

class OperationsTest < Minitest::Test
  include TaskerTestHelper

  def blocking_client(fail_first: true)
    client = new_client
    client.load_template({ "name" => "ops", "namespace_name" => "test",
                           "step_templates" => [{ "name" => "bad", "handler" => "bad" },
                                                { "name" => "after", "handler" => "after", "depends_on_step" => "bad" }] })
    state = { broken: fail_first }
    client.register_handler("bad") do |_|
      raise Tasker::PermanentError.new("broken", error_class: "Broken") if state[:broken]

      { "value" => 7 }
    end
    client.register_handler("after") { |ctx| { "got" => ctx.dependency_result("bad")["value"] } }
    [client, state]
  end

  def test_task_view_and_execution_context
    client, = blocking_client
    task = client.create_task("ops", namespace: "test", context: { "k" => "v" }, initiator: "me", reason: "test")
    view = client.task_view(task)
    assert_equal "pending", view.state
    assert_equal "ops", view.name
    assert_equal "test", view.namespace
    assert_equal "0.1.0", view.version
    assert_equal "me", view.to_h["initiator"]
    assert_equal %w[after bad], view.steps.map { |s| s["name"] }.sort
    assert_equal ["pending"], view.step("bad")["transitions"].map { |t| t["to_state"] }
    assert_raises(KeyError) { view.step_id("nope") }
    ctx = client.execution_context(task)
    assert_equal 2, ctx["total_steps"]
    assert_equal 1, ctx["ready_steps"]
    assert_equal "has_ready_steps", ctx["execution_status"]
  end

  def test_resolve_step_by_hand_unblocks_the_task
    client, = blocking_client
    task = client.create_task("ops", namespace: "test", context: {})
    client.run_task(task)
    view = client.task_view(task)
    assert_equal "error", view.state
    assert client.resolve_step(view.step_id("bad"), { "value" => 3 })
    client.run_task(task)
    view = client.task_view(task)
    assert_equal "complete", view.state
    assert_equal "resolved_manually", view.step("bad")["state"]
    assert_equal({ "got" => 3 }, view.step("after")["results"])
  end

  def test_retry_step_after_fixing_the_handler
    client, state = blocking_client
    task = client.create_task("ops", namespace: "test", context: {})
    client.run_task(task)
    step = client.task_view(task).step_id("bad")
    state[:broken] = false
    assert client.retry_step(step)
    client.run_task(task)
    view = client.task_view(task)
    assert_equal "complete", view.state
    assert_equal 1, view.step("bad")["attempts"]
    assert_equal({ "got" => 7 }, view.step("after")["results"])
  end

  def test_cancel_task
    client, = blocking_client
    task = client.create_task("ops", namespace: "test", context: {})
    events = []
    client.subscribe("task.cancelled", "step.cancelled") { |e| events << e.name }
    assert client.cancel_task(task)
    refute client.cancel_task(task)
    client.run_task(task)
    view = client.task_view(task)
    assert_equal "cancelled", view.state
    assert_equal %w[cancelled cancelled], view.steps.map { |s| s["state"] }
    assert_equal 0, view.step("bad")["attempts"]
    assert_includes events, "task.cancelled"
    assert_equal 2, events.count("step.cancelled")
  end

  def test_ids_from_refs_events_and_integers
    client, = blocking_client
    ref = client.create_task("ops", namespace: "test", context: {})
    assert_equal client.task_view(ref.task_id).task_id, client.task_view(ref).task_id
    assert_equal ref.task_id, Tasker.id_of(ref, :task_id)
    assert_raises(ArgumentError) { client.task_view("seven") }
  end
end
