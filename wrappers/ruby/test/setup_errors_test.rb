# frozen_string_literal: true

require_relative "test_helper"

# Setup mistakes a newcomer makes get errors naming what to fix (issue #12 point 6).
class SetupErrorsTest < Minitest::Test
  include TaskerTestHelper

  TWO = <<~YAML
    name: two
    namespace_name: test
    version: 1.0.0
    step_templates:
      - {name: first, handler: first}
      - {name: second, handler: second, depends_on_step: first}
  YAML

  def test_unreachable_postgres_names_where_and_the_variable
    e = assert_raises(Tasker::DatabaseError) do
      Tasker::Client.new("postgres://u:pw@127.0.0.1:1/db", connect_timeout_ms: 500)
    end
    assert_includes e.message, "127.0.0.1:1"
    assert_includes e.message, "TASKER_DATABASE_URL"
    refute_includes e.message, "pw@"
  end

  def test_sqlite_in_a_missing_directory_names_it
    e = assert_raises(Tasker::ConfigError) do
      Tasker::Client.new("sqlite://#{@tmpdir}/no/such/dir/tasker.db")
    end
    assert_includes e.message, "#{@tmpdir}/no/such/dir"
    assert_includes e.message, "does not exist"
  end

  def test_missing_template_file_says_no_such_file
    client = new_client
    ["templates/missing", "templates/missing.yaml"].each do |source|
      e = assert_raises(Tasker::InvalidTemplateError) { client.load_template(source) }
      assert_match(/no such file/i, e.message)
    end
  end

  def test_duplicate_handler_is_refused_when_asked
    client = new_client("dup", on_duplicate_handler: "error")
    client.register_handler("a") { {} }
    e = assert_raises(Tasker::InvalidStateError) { client.register_handler("a") { {} } }
    assert_includes e.message, "'a' is already registered"
    relaxed = new_client("dup2") # default: replaced with a warning
    relaxed.register_handler("a") { {} }
    relaxed.register_handler("a") { {} }
  end

  def test_worker_reports_missing_handlers_at_start
    client = new_client("missing", on_missing_handler: "error")
    client.load_template(TWO)
    client.register_handler("first") { {} }
    e = assert_raises(Tasker::InvalidStateError) { client.worker.run }
    assert_includes e.message, "'second' (step 'second' of test/two 1.0.0)"
  end
end
