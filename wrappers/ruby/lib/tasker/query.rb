# frozen_string_literal: true

module Tasker
  # What Client#wait_task returns (docs/ABI.md "Task wait"): whether the timeout ended the wait
  # (the task then neither finished nor blocked) and the task's view as it then was.
  TaskWait = Struct.new(:timed_out, :task, keyword_init: true) do
    def self.from_h(doc)
      doc ||= {}
      new(timed_out: doc["timed_out"] == true, task: TaskView.new(doc["task"]))
    end

    def timed_out? = timed_out
  end

  # One task of a Client#list_tasks page (docs/ABI.md "Task filter and page"); times are epoch ms,
  # `execution` the execution context Hash.
  TaskSummary = Struct.new(:task_id, :namespace, :name, :version, :state, :initiator, :source_system, :tags,
                           :created_at, :updated_at, :execution, keyword_init: true)

  # One step of a Client#list_steps page (docs/ABI.md "Step filter and page"); times are epoch ms.
  StepSummary = Struct.new(:step_id, :task_id, :name, :handler, :state, :attempts, :retry_limit, :next_attempt_at,
                           :lease_expires_at, :last_attempted_at, :created_at, :updated_at, keyword_init: true)

  # A summary from its document: every member read from the field of its name.
  [TaskSummary, StepSummary].each do |type|
    type.define_singleton_method(:from_h) { |doc| new(**members.to_h { |m| [m, (doc || {})[m.to_s]] }) }
  end

  # A page of a listing: its items, newest first, and the cursor of the next page (nil: the last
  # page). Pass next_cursor back as `cursor:` with the same filter for the next page.
  Page = Struct.new(:items, :next_cursor, keyword_init: true) do
    def last? = next_cursor.nil?
  end

  # The filters of Client#list_tasks and #list_steps: the filter documents' fields (keyword
  # arguments named as the fields).
  module Query
    TASK_FILTER = %i[states execution_status namespace name version initiator source_system tags created_from
                     created_to updated_from updated_to cursor limit].freeze
    STEP_FILTER = %i[task_id states condition handler cursor limit].freeze

    module_function

    # The filter document: the fields given (nil ones left out), Symbols as Strings, `states` and
    # `tags` as Arrays (one name alone is a list of one). Unknown keywords raise ArgumentError.
    def filter(fields, allowed)
      unknown = fields.keys.map(&:to_sym) - allowed
      if unknown.any?
        raise ArgumentError, "unknown filter field(s): #{unknown.join(', ')} (known: #{allowed.join(', ')})"
      end

      fields.each_with_object({}) do |(key, value), doc|
        next if value.nil?

        value = Array(value).map(&:to_s) if %i[states tags].include?(key.to_sym)
        doc[key.to_s] = value.is_a?(Symbol) ? value.to_s : value
      end
    end
  end
end
