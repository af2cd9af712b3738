# frozen_string_literal: true

require_relative "test_helper"
require "rbconfig"
require "securerandom"

# SIGINT and SIGTERM to a process driving steps (Worker#run, Worker#start + #join,
# Client#run_task), on SQLite and, with TASKER_CONFORMANCE_PG_URL, on PostgreSQL: the process
# exits (as the signal's default action does), and the step it was running is not left
# in_progress, nor its attempt counted. Each case runs test/shutdown_child.rb.
class ShutdownTest < Minitest::Test
  include TaskerTestHelper

  ROOT = File.expand_path("..", __dir__)
  CHILD = File.join(__dir__, "shutdown_child.rb")
  HANG_LIMIT = 120 # seconds before a child that ignored the signal is killed (the test fails)

  # Runs the child, signals it once its handler has started, and returns [task_id, status, output].
  def signal_child(mode, url, sig, seconds: "forever", grace_ms: 300)
    name = "shutdown_#{SecureRandom.hex(4)}" # the template and handler of this case only
    cmd = [RbConfig.ruby, "-I#{ROOT}/lib", CHILD, mode, url, name, seconds, grace_ms.to_s]
    out = []
    IO.popen(cmd, err: %i[child out]) do |io|
      task_id = nil
      while (line = io.gets)
        out << line
        task_id = Integer(line.split.last) if line.start_with?("task ")
        break if line == "started\n"
      end
      flunk "the child ended before its handler started:\n#{out.join}" unless line
      Process.kill(sig, io.pid)
      reader = Thread.new { io.read }
      unless reader.join(HANG_LIMIT)
        Process.kill("KILL", io.pid)
        flunk "the child did not exit after SIG#{sig}:\n#{out.join}"
      end
      out << reader.value
      io.close
      return [task_id, $?, out.join] # rubocop:disable Style/SpecialGlobalVars
    end
  end

  def step_after(url, task_id)
    Tasker::Client.open(url) { |c| c.task_view(task_id).step("s") }
  end

  # The signal's default action ended the child (Interrupt / SignalException re-raised at the end).
  def assert_ended_by(sig, status, output)
    assert status.signaled?, "exit status #{status.inspect}, expected SIG#{sig}:\n#{output}"
    assert_equal Signal.list[sig], status.termsig, output
  end

  def assert_released(url, task_id, output)
    step = step_after(url, task_id)
    assert_equal "pending", step["state"], output
    assert_equal 0, step["attempts"], "the attempt was counted:\n#{output}"
  end

  def each_case(mode, signals: %w[INT TERM])
    backends.each do |backend, pg_url|
      signals.each do |sig|
        url = pg_url || db_url("#{mode}-#{sig}")
        task_id, status, output = signal_child(mode, url, sig)
        output = "#{backend} #{mode} SIG#{sig}: #{output}"
        assert_ended_by(sig, status, output)
        assert_released(url, task_id, output)
      end
    end
  end

  # The handler outlives the grace period: it is cut short and its claim goes back.
  def test_worker_run_stops_on_int_and_term = each_case("run")
  def test_worker_start_join_stops_on_int_and_term = each_case("join")

  # run_task aborts at once, without retrying the step.
  def test_run_task_aborts_on_int_and_term = each_case("run_task")

  # Within the grace period the running handler finishes and its outcome is written.
  def test_worker_run_lets_the_running_handler_finish_within_the_grace_period
    backends.each do |backend, pg_url|
      url = pg_url || db_url("grace")
      task_id, status, output = signal_child("run", url, "TERM", seconds: "1", grace_ms: 60_000)
      output = "#{backend}: #{output}"
      assert_ended_by("TERM", status, output)
      step = step_after(url, task_id)
      assert_equal "complete", step["state"], output
      assert_equal 1, step["attempts"], output
      assert_equal({ "slept" => "1" }, step["results"], output)
    end
  end
end
