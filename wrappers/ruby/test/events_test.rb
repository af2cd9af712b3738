# frozen_string_literal: true

require_relative "test_helper"

class EventsTest < Minitest::Test
  include TaskerTestHelper

  def linear_client
    client = new_client
    client.load_template({ "name" => "linear", "namespace_name" => "test",
                           "step_templates" => [{ "name" => "a", "handler" => "ok" },
                                                { "name" => "b", "handler" => "ok", "depends_on_step" => "a" }] })
    client.register_handler("ok") { |ctx| { "step" => ctx.step_name } }
    client
  end

  def test_subscription_receives_matching_events_in_order
    client = linear_client
    events = []
    sub = client.subscribe("task.start_requested", "task.completed", "step.completed") { |e| events << e }
    task = client.create_task("linear", namespace: "test", context: {})
    client.run_task(task)
    assert_equal [["task.start_requested", nil], ["step.completed", "a"], ["step.completed", "b"], ["task.completed", nil]],
                 events.map { |e| [e.name, e.step_name] }
    assert(events.all? { |e| e.task_id == task.task_id })
    step_event = events[1]
    assert step_event.step?
    assert_equal "in_progress", step_event.from_state
    assert_equal "complete", step_event.to_state
    assert_equal 1, step_event.payload["attempt"]
    assert_kind_of Time, step_event.time
    assert_equal client.task_view(task).step_id("a"), step_event.step_id
    assert_equal %w[task.start_requested task.completed step.completed], sub.patterns
  end

  # (Not the main thread: there run_task runs the steps on a helper thread, see SignalWatch.)
  def test_prefix_patterns_and_events_run_on_the_calling_thread
    client = linear_client
    threads = []
    names = []
    client.subscribe("step.*") do |e|
      names << e.name
      threads << Thread.current
    end
    task = client.create_task("linear", namespace: "test", context: {})
    caller = Thread.new { client.run_task(task) && Thread.current }.value
    refute_empty names
    assert(names.all? { |n| n.start_with?("step.") })
    assert_equal [caller], threads.uniq
  end

  def test_handle_signals_false_keeps_the_main_thread
    client = linear_client
    threads = []
    client.subscribe("step.*") { |_e| threads << Thread.current }
    client.run_task(client.create_task("linear", namespace: "test", context: {}), handle_signals: false)
    assert_equal [Thread.main], threads.uniq
  end

  def test_failing_subscriber_changes_nothing
    client = linear_client
    seen = 0
    client.subscribe { |_| (seen += 1) && raise("subscriber bug") }
    task = nil
    _out, err = capture_io do
      task = client.create_task("linear", namespace: "test", context: {})
      client.run_task(task)
    end
    assert_match(/subscriber raised RuntimeError: subscriber bug/, err)
    assert_operator seen, :>, 3
    assert_equal "complete", client.task_view(task).state
  end

  def test_closed_subscription_receives_nothing_more
    client = linear_client
    count = 0
    sub = client.subscribe("task.*") { |_| count += 1 }
    client.run_task(client.create_task("linear", namespace: "test", context: { i: 1 }))
    seen = count
    assert_operator seen, :>, 0
    sub.close
    assert sub.closed?
    client.run_task(client.create_task("linear", namespace: "test", context: { i: 2 }))
    assert_equal seen, count
  end

  def test_subscription_may_close_itself_from_its_own_block
    client = linear_client
    before = Tasker::Callbacks.size
    names = []
    sub = nil
    sub = client.subscribe do |e|
      names << e.name
      sub.close if e.name == "step.completed"
    end
    client.run_task(client.create_task("linear", namespace: "test", context: {}))
    assert sub.closed?
    assert_equal "step.completed", names.last
    assert_equal before, Tasker::Callbacks.size # freed once the outer call returned
  end

  def test_subscription_requires_a_block
    assert_raises(ArgumentError) { new_client.subscribe("task.*") }
  end
end
