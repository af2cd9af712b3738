# frozen_string_literal: true

require_relative "test_helper"
require "securerandom"

# Cron schedules through the wrapper (docs/SCHEDULING.md): define, fire once per tick at a
# chosen time, disable, list, delete; bad expressions refused; on every backend (names are this
# test's own, since the PostgreSQL database is shared by the suite).
class SchedulesTest < Minitest::Test
  include TaskerTestHelper

  def test_a_schedule_fires_once_per_tick_and_can_be_disabled_and_deleted
    backends.each do |backend, url|
      ns = "s#{SecureRandom.hex(6)}"
      client = url ? Tasker::Client.new(url, **FAST).tap { |c| @clients << c } : new_client(backend)
      client.load_template({ "name" => "report", "namespace_name" => ns, "version" => "1.0.0",
                             "step_templates" => [{ "name" => "only", "handler" => "#{ns}_only" }] })
      name = "#{ns}-every-second"
      stored = client.upsert_schedule(name, template: "report", namespace: ns, cron: "* * * * * *",
                                            context: { "kind" => "daily" })
      assert_equal [name, "skip", 1], stored.values_at("name", "missed", "max_catch_up"), backend
      later = (Time.now.to_r * 1000).to_i + 3_600_000
      assert_equal 1, client.fire_due_schedules(later), backend # skip: only the latest missed tick
      assert_equal 0, client.fire_due_schedules(later), backend
      tasks = client.list_tasks(namespace: ns).items
      assert_equal ["schedule:#{name}"], tasks.map(&:initiator), backend
      assert client.set_schedule_enabled(name, false)
      mine = client.schedules.select { |s| s["name"] == name }
      assert_equal [false], mine.map { |s| s["enabled"] }, backend
      assert_equal 0, client.fire_due_schedules(later + 10_000), backend
      assert client.delete_schedule(name)
      refute client.delete_schedule(name)
      refute client.set_schedule_enabled(name, true)
      tasks.each { |t| client.cancel_task(t.task_id) }
    end
  end

  def test_bad_schedules_are_refused
    client = new_client
    error = assert_raises(Tasker::InvalidRequestError) do
      client.upsert_schedule("bad", template: "any", cron: "61 * * * *")
    end
    assert_includes error.message, "cron expression '61 * * * *'"
    error = assert_raises(Tasker::InvalidRequestError) do
      client.upsert_schedule("bad", template: "any", cron: "* * * * *", time_zone: "Nowhere/City")
    end
    assert_includes error.message, "unknown time zone"
    assert_raises(Tasker::UnknownTemplateError) { client.upsert_schedule("bad", template: "missing", cron: "* * * * *") }
  end
end
