# frozen_string_literal: true

require_relative "test_helper"

class WorkerTest < Minitest::Test
  include TaskerTestHelper

  def wait_until(timeout = 60)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until yield
      flunk "condition not met within #{timeout} s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.02
    end
  end

  def counting_diamond(client, executions)
    client.load_template(DIAMOND)
    %w[a b c d].each do |h|
      client.register_handler(h) do |ctx|
        executions.record(ctx)
        { "value" => ctx.dependency_results.values.sum { |r| r["value"] } + 1 }
      end
    end
  end

  # Mandatory: 4 Ruby threads finish 200 diamond tasks, every step executed exactly once.
  def test_four_threads_finish_200_diamonds_each_step_once
    client = new_client("concurrent")
    executions = Executions.new
    counting_diamond(client, executions)
    tasks = Array.new(200) { |i| client.create_task("diamond", namespace: "test", context: { "i" => i }) }
    worker = Tasker::Worker.new(client, threads: 4).start
    assert worker.running?
    begin
      wait_until(180) { client.health["complete_tasks"] == 200 }
    ensure
      worker.stop
      ran = worker.join(60)
    end
    assert_equal 800, ran
    assert_equal 800, executions.total
    tasks.each do |t|
      view = client.task_view(t)
      assert_equal "complete", view.state
      view.steps.each do |s|
        assert_equal 1, executions.count(s["step_id"]), "step #{s['name']} of task #{t.task_id}"
        assert_equal 1, s["attempts"]
      end
      assert_equal 5, view.step("d")["results"]["value"] # a=1, b=c=2, d=2+2+1
    end
    assert_operator executions.threads.size, :>=, 2, "the steps ran on more than one thread"
    refute_includes executions.threads.keys, Thread.current
    worker.close
    refute worker.running?
  end

  # blocking: true releases the GVL, so an idle worker waiting in libtasker does not stall Ruby.
  def test_idle_worker_threads_do_not_hold_the_gvl
    client = new_client
    worker = Tasker::Worker.new(client, threads: 2).start
    sleep 0.05
    spins = 0
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 0.3
    spins += 1 while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
    assert_operator spins, :>, 10_000
    worker.stop
    assert_equal 0, worker.join(10)
    worker.close
  end

  def test_stop_join_and_restart
    client = new_client
    executions = Executions.new
    counting_diamond(client, executions)
    worker = client.worker(threads: 2)
    t1 = client.create_task("diamond", namespace: "test", context: { "i" => 1 })
    worker.start
    wait_until { client.task_view(t1).state == "complete" }
    assert_equal 4, worker.stop.join(10)
    refute worker.running?
    t2 = client.create_task("diamond", namespace: "test", context: { "i" => 2 })
    worker.start
    assert_raises(Tasker::InvalidStateError) { worker.start }
    assert_raises(Tasker::InvalidStateError) { worker.run_once }
    wait_until { client.task_view(t2).state == "complete" }
    assert_equal 8, worker.stop.join(10)
    worker.close
    worker.close
    assert_raises(Tasker::ClosedError) { worker.start }
  end

  def test_run_once_on_the_calling_thread
    client = new_client
    executions = Executions.new
    counting_diamond(client, executions)
    worker = Tasker::Worker.new(client)
    assert_equal 0, worker.run_once
    task = client.create_task("diamond", namespace: "test", context: {})
    ran = 0
    while (n = worker.run_once).positive?
      ran += n
    end
    assert_equal 4, ran
    assert_equal "complete", client.task_view(task).state
    assert_equal [Thread.current], executions.threads.keys
    worker.close
  end

  def test_run_blocks_until_stopped_from_another_thread
    client = new_client
    worker = Tasker::Worker.new(client)
    stopper = Thread.new { sleep(0.1); worker.stop }
    assert_equal 0, worker.run
    stopper.join
    worker.close
  end

  def test_interrupt_in_a_worker_thread_stops_it_and_surfaces_in_join
    client = new_client
    client.load_template(single_step_template("wint", handler: "wint", default_retry_limit: 1))
    client.register_handler("wint") { |_| raise Interrupt }
    task = client.create_task("wint", namespace: "test", context: {})
    worker = Tasker::Worker.new(client).start
    assert_raises(Interrupt) { worker.join(30) }
    step = client.task_view(task).step("s")
    assert_equal ["pending", 0], [step["state"], step["attempts"]]
    worker.close
  end

  # run_task waits for a step another thread holds.
  def test_run_task_while_a_worker_holds_one_of_its_steps
    client = new_client
    client.load_template(DIAMOND)
    started = Queue.new
    %w[a b c d].each do |h|
      client.register_handler(h) do |ctx|
        if ctx.step_name == "a"
          started << Thread.current
          sleep 0.3
        end
        { "by" => Thread.current.name }
      end
    end
    task = client.create_task("diamond", namespace: "test", context: {})
    worker = Tasker::Worker.new(client).start
    refute_equal Thread.current, started.pop
    worker.stop # the worker finishes step a, then returns
    execution = client.run_task(task)
    assert_equal "complete", execution["task_state"]
    view = client.task_view(task)
    assert_equal "tasker-worker-0", view.step("a")["results"]["by"]
    assert_nil view.step("d")["results"]["by"] # the main thread has no name: run_task ran it
    worker.join(10)
    worker.close
  end

  def test_worker_new_on_closed_client_raises
    client = Tasker::Client.new(db_url("closed"))
    client.close
    assert_raises(Tasker::ClosedError) { Tasker::Worker.new(client) }
    assert_raises(ArgumentError) { Tasker::Worker.new(new_client, threads: 0) }
  end
end
