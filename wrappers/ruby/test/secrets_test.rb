# frozen_string_literal: true

require_relative "test_helper"
require "open3"
require "rbconfig"

# A sentinel password in a database URL never appears in any output: every error path that sees
# a URL runs in a child Ruby with libtasker's logging at trace level, printing each error and
# client with to_s, inspect and message; the child's whole output is then searched.
class SecretsTest < Minitest::Test
  include TaskerTestHelper

  SENTINEL = "S3NT1NEL-pw"

  CHILD = <<~'RUBY'
    require "tasker"
    require "uri"
    Tasker.init_logging
    s, dir = ARGV
    show = ->(what, v) { puts "#{what}: #{v} #{v.inspect} #{v.respond_to?(:message) ? v.message : ''}" }
    bad = ["Postgres://u:#{s}@127.0.0.1:1/db", " postgres://u:#{s}@127.0.0.1:1/db",
           "mysql://u:#{s}@127.0.0.1:1/db", "postgres://u:#{s}@127.0.0.1:1/db",
           "postgres://u@127.0.0.1:1/db?password=#{s}"]
    bad.each do |url|
      Tasker::Client.new(url, connect_timeout_ms: 500)
      abort "opened #{url.sub(s, '***')}"
    rescue Tasker::Error => e
      show.("open error", e)
    end
    urls = ["sqlite://#{File.join(dir, 'secret.db')}"]
    if (pg = ENV["TASKER_CONFORMANCE_PG_URL"])
      # The test server trusts local connections: the password is accepted and unused.
      u = URI.parse(pg)
      u.password = s
      urls << u.to_s
    end
    urls.each do |url|
      c = Tasker::Client.new(url, connect_timeout_ms: 500)
      show.("client", c)
      [-> { c.create_task("no_such_template") }, -> { c.task_view(-1) },
       -> { c.load_template("name: [unclosed") }].each do |call|
        call.call
      rescue Tasker::Error => e
        show.("call error", e)
      end
      c.close
      begin
        c.task_view(1)
      rescue Tasker::Error => e
        show.("closed client error", e)
      end
      show.("closed client", c)
    end
  RUBY

  def test_sentinel_password_never_printed
    lib = File.expand_path("../lib", __dir__)
    out, status = Open3.capture2e({ "TASKER_LOG" => "trace" }, RbConfig.ruby, "-I", lib, "-e", CHILD,
                                  SENTINEL, @tmpdir)
    assert status.success?, out
    i = out.index(SENTINEL)
    assert_nil i, "the password appears in the output: ...#{i && out[[0, i - 300].max, 400]}..."
    assert_includes out, ":***@", "no masked URL printed: the error paths did not run?\n#{out}"
  end
end
