# frozen_string_literal: true

require_relative "test_helper"
require "open3"
require "rbconfig"

# Handles left to the GC, process exit with open handles, and the examples. Each runs in a child
# Ruby so that a crash at exit or a leaked registration shows up as a failure here.
class LifecycleTest < Minitest::Test
  include TaskerTestHelper

  ROOT = File.expand_path("..", __dir__)

  # A hang (e.g. at exit) is killed after 120 s and fails the test.
  def ruby(script, *args, env: {}, file: nil)
    cmd = [RbConfig.ruby, "-I#{ROOT}/lib", *(file ? [file] : ["-e", script]), *args]
    cmd = ["timeout", "-k", "5", "120", *cmd] if system("command -v timeout >/dev/null 2>&1")
    Open3.capture3(env, *cmd, chdir: @tmpdir)
  end

  def test_unclosed_handles_are_released_by_the_gc
    script = <<~RUBY
      require "tasker"
      def leak(url)
        c = Tasker::Client.new(url)
        c.register_handler("h") { |_| 1 }
        c.subscribe { |_| nil }
        c.queue_injector = Tasker::QueueInjector.new(enqueue_task: ->(*) {}, enqueue_step: ->(*) {})
        Tasker::Worker.new(c, threads: 2)
        nil
      end
      5.times { |i| leak("sqlite://gc\#{i}.db") }
      before = Tasker::Callbacks.size
      10.times { GC.start(full_mark: true, immediate_sweep: true); sleep 0.01 }
      puts "\#{before} \#{Tasker::Callbacks.size}"
    RUBY
    out, err, status = ruby(script)
    assert status.success?, err
    before, after = out.split.map(&:to_i)
    assert_equal 15, before
    assert_operator after, :<, before, "the GC released no registration (#{after} left)"
  end

  def test_exit_with_open_handles_is_clean
    script = <<~RUBY
      require "tasker"
      $c = Tasker::Client.new("sqlite://exit.db")
      $c.load_template({"name" => "t", "step_templates" => [{"name" => "s", "handler" => "h"}]})
      $c.register_handler("h") { |_| 1 }
      $sub = $c.subscribe { |_| nil }
      $w = Tasker::Worker.new($c, threads: 2).start
      $c.run_task($c.create_task("t", context: {}))
      puts "done"
    RUBY
    out, err, status = ruby(script)
    assert status.success?, "exit status #{status.inspect}: #{err}"
    assert_equal "done\n", out
  end

  def test_sidekiq_style_example
    out, err, status = ruby(nil, "4", file: File.join(ROOT, "examples/sidekiq_style.rb"))
    assert status.success?, err
    assert_match(/all 4 tasks complete/, out)
    assert_equal 4, out.scan(/complete\s+charge: attempts=2/).size
  end

  def test_order_fulfillment_example
    out, err, status = ruby(nil, file: File.join(ROOT, "examples/order_fulfillment.rb"))
    assert status.success?, err
    assert_match(/process_payment\s+failed: payment gateway busy \(429\) \(GatewayBusy\) -> retry in 1000 ms/, out)
    assert_match(/process_payment\s+complete\s+2/, out)
  end
end
