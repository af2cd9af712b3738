# frozen_string_literal: true

require_relative "test_helper"

# Client#close (tasker_client_close) and Client#interrupt (tasker_client_interrupt) while other
# threads run calls on the client.
class CloseInterruptTest < Minitest::Test
  include TaskerTestHelper

  def slow_task(client, started, seconds)
    client.load_template(single_step_template("slow", handler: "slow", default_retry_limit: 3))
    client.register_handler("slow") do |_ctx|
      started << true
      sleep seconds
      { "done" => true }
    end
    client.create_task("slow", namespace: "test", context: {})
  end

  # The worker stops (its thread returns) and its running handler finishes within the grace period.
  def test_close_stops_a_running_worker_and_keeps_its_handler_outcome
    client = Tasker::Client.new(db_url("close-busy"), **FAST)
    started = Queue.new
    task = slow_task(client, started, 0.3)
    worker = client.worker.start
    started.pop
    client.close
    assert_equal 1, worker.join(60)
    worker.close
    Tasker::Client.open(db_url("close-busy")) do |c|
      step = c.task_view(task).step("s")
      assert_equal ["complete", 1], [step["state"], step["attempts"]]
    end
  end

  def test_a_worker_started_after_close_raises_closed
    client = Tasker::Client.new(db_url("closed-start"), **FAST)
    worker = client.worker
    client.close
    assert_raises(Tasker::ClosedError) { worker.start }
    assert_raises(Tasker::ClosedError) { worker.run }
    worker.close
  end

  # A thread of #start that had not reached libtasker when the client closed just returns.
  def test_close_right_after_start_stops_the_threads
    client = Tasker::Client.new(db_url("close-start"), **FAST)
    worker = client.worker(threads: 4).start
    client.close
    assert_equal 0, worker.join(60), "the worker threads did not return"
    worker.close
  end

  # Runs a task whose handler sleeps `seconds` on another thread, calls the block once the handler
  # runs, and returns the exception the run ended with; the step must be ready again, unattempted.
  def interrupted_run(seconds)
    client = new_client
    started = Queue.new
    task = slow_task(client, started, seconds)
    runner = Thread.new { client.run_task(task) }
    runner.report_on_exception = false
    started.pop
    yield client
    error = assert_raises(Exception) { runner.value }
    step = client.task_view(task).step("s")
    assert_equal ["pending", 0, nil], [step["state"], step["attempts"], step["results"]]
    error
  end

  def test_interrupt_ends_run_task_on_another_thread_without_counting_the_attempt
    error = interrupted_run(0.3, &:interrupt)
    assert_kind_of Tasker::InterruptedError, error
  end

  def test_interrupt_from_a_trap
    error = interrupted_run(0.3) do |client|
      previous = Signal.trap("USR2") { client.interrupt }
      begin
        Process.kill("USR2", Process.pid)
      ensure
        Signal.trap("USR2", previous)
      end
    end
    assert_kind_of Tasker::InterruptedError, error
  end

  def test_interrupt_and_cancel_cuts_a_running_handler_short
    error = interrupted_run(600) { |client| client.interrupt_and_cancel(Interrupt.new("stop")) }
    assert_kind_of Interrupt, error
  end
end
