# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "minitest/autorun"
require "tasker"
require "tmpdir"
require "fileutils"

module TaskerTestHelper
  DIAMOND = <<~YAML
    name: diamond
    namespace_name: test
    version: 1.0.0
    step_templates:
      - {name: a, handler: a}
      - {name: b, handler: b, depends_on_step: a}
      - {name: c, handler: c, depends_on_step: a}
      - {name: d, handler: d, depends_on_steps: [b, c]}
  YAML

  FAST = { backoff: { base_ms: 5, factor: 2.0, max_ms: 40 }, poll_interval_ms: 10, lease_check_interval_ms: 50 }.freeze

  def setup
    super
    @tmpdir = Dir.mktmpdir("tasker-rb-test")
    @clients = []
  end

  def teardown
    @clients.each(&:close)
    FileUtils.rm_rf(@tmpdir)
    super
  end

  # The backends a case runs on: SQLite ("sqlite" => nil: a file of the case's own), and the
  # PostgreSQL database of TASKER_CONFORMANCE_PG_URL when it is set (shared by the suite).
  def backends
    urls = { "sqlite" => nil }
    pg = ENV["TASKER_CONFORMANCE_PG_URL"]
    urls["postgres"] = pg if pg && !pg.empty?
    urls
  end

  def db_url(name = "test") = "sqlite://#{File.join(@tmpdir, "#{name}.db")}"

  def new_client(name = "test", **options)
    client = Tasker::Client.new(db_url(name), **FAST, **options)
    @clients << client
    client
  end

  def single_step_template(name, handler: name, **step)
    { "name" => name, "namespace_name" => "test",
      "step_templates" => [{ "name" => "s", "handler" => handler }.merge(step.transform_keys(&:to_s))] }
  end

  # A thread-safe counter of executions per step id (and the threads that ran them).
  class Executions
    attr_reader :threads

    def initialize
      @lock = Mutex.new
      @counts = Hash.new(0)
      @threads = {}
    end

    def record(ctx)
      @lock.synchronize do
        @counts[ctx.step_id] += 1
        @threads[Thread.current] = true
      end
    end

    def count(step_id) = @lock.synchronize { @counts[step_id] }
    def total = @lock.synchronize { @counts.values.sum }
  end
end
