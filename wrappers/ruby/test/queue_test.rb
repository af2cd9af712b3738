# frozen_string_literal: true

require_relative "test_helper"

class QueueTest < Minitest::Test
  include TaskerTestHelper

  class Recorder
    attr_reader :entries

    def initialize = (@entries = [])
    def enqueue_task(id, delay) = @entries << [:task, id, delay]
    def enqueue_step(id, delay) = @entries << [:step, id, delay]
  end

  def queued_client
    client = new_client
    client.load_template(DIAMOND)
    executed = []
    %w[a b c d].each do |h|
      client.register_handler(h) do |ctx|
        executed << ctx.step_name
        raise Tasker::RetryableError.new("once", retry_after: 0.03) if ctx.step_name == "b" && ctx.attempt == 1

        { "v" => 1 }
      end
    end
    [client, executed]
  end

  def test_host_queue_receives_ready_steps_and_handles_them
    client, executed = queued_client
    recorder = Recorder.new
    client.queue_injector = recorder
    assert_same recorder, client.queue_injector
    task = client.create_task("diamond", namespace: "test", context: {})
    assert_equal [[:step, client.task_view(task).step_id("a"), 0.0]], recorder.entries
    outcomes = []
    retry_delays = []
    until recorder.entries.empty?
      kind, id, delay = recorder.entries.shift
      if kind == :step
        sleep(delay) if delay.positive?
        out = client.handle_step(id)
        outcomes << out["outcome"]
        retry_delays << out["retry_delay_ms"] if out["outcome"] == "failed"
      else
        client.handle_task(id)
      end
      flunk "queue does not drain" if outcomes.size > 50
    end
    assert_equal "complete", client.task_view(task).state
    assert_equal 4, outcomes.count("completed")
    assert_equal 1, outcomes.count("failed")
    assert_equal [30], retry_delays
    assert_equal %w[a b b c d], executed.sort
  end

  def test_retry_is_enqueued_with_its_delay_in_seconds
    client, = queued_client
    recorder = Recorder.new
    client.queue_injector = recorder
    task = client.create_task("diamond", namespace: "test", context: {})
    view = client.task_view(task)
    client.handle_step(recorder.entries.shift[1]) # a
    ids = recorder.entries.map { |e| e[1] }
    assert_equal [view.step_id("b"), view.step_id("c")].sort, ids.sort
    recorder.entries.clear
    out = client.handle_step(view.step_id("b"))
    assert_equal "failed", out["outcome"]
    assert out["will_retry"]
    assert_equal [[:step, view.step_id("b"), 0.03]], recorder.entries
  end

  def test_duplicate_and_early_deliveries_are_skipped
    client, = queued_client
    recorder = Recorder.new
    client.queue_injector = recorder
    task = client.create_task("diamond", namespace: "test", context: {})
    view = client.task_view(task)
    assert_equal "skipped", client.handle_step(view.step_id("d"))["outcome"] # not ready yet
    assert_equal "completed", client.handle_step(view.step_id("a"))["outcome"]
    assert_equal "skipped", client.handle_step(view.step_id("a"))["outcome"] # duplicate
    execution = client.handle_task(task)
    assert_equal task.task_id, execution["task_id"]
  end

  def test_queue_injector_object_and_removal
    client, = queued_client
    calls = []
    client.queue_injector = Tasker::QueueInjector.new(enqueue_task: ->(id, d) { calls << [:task, id, d] },
                                                      enqueue_step: ->(id, d) { calls << [:step, id, d] })
    client.create_task("diamond", namespace: "test", context: { i: 1 })
    assert_equal 1, calls.size
    client.queue_injector = nil
    assert_nil client.queue_injector
    client.create_task("diamond", namespace: "test", context: { i: 2 })
    assert_equal 1, calls.size
    assert_raises(ArgumentError) { client.queue_injector = Object.new }
  end

  def test_failing_injector_leaves_the_work_ready
    client, = queued_client
    client.queue_injector = Tasker::QueueInjector.new(enqueue_task: ->(*) { raise "queue down" },
                                                      enqueue_step: ->(*) { raise "queue down" })
    task = nil
    _out, err = capture_io { task = client.create_task("diamond", namespace: "test", context: {}) }
    assert_match(/enqueue_step\(\d+\) raised RuntimeError: queue down/, err)
    client.queue_injector = nil
    assert_equal 1, client.execution_context(task)["ready_steps"]
    client.run_task(task)
    assert_equal "complete", client.task_view(task).state
  end
end
