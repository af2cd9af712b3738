# frozen_string_literal: true

require_relative "tasker/version"
require_relative "tasker/native"
require_relative "tasker/errors"
require_relative "tasker/codec"
require_relative "tasker/call_scope"
require_relative "tasker/signal_watch"
require_relative "tasker/step_context"
require_relative "tasker/step_handler"
require_relative "tasker/batch"
require_relative "tasker/decision"
require_relative "tasker/event"
require_relative "tasker/task_view"
require_relative "tasker/query"
require_relative "tasker/queue_injector"
require_relative "tasker/callbacks"
require_relative "tasker/client"
require_relative "tasker/worker"

# Ruby binding of libtasker, a workflow orchestration core (DAGs of steps, retries with backoff,
# leases, events) with its state in SQLite or PostgreSQL. Start with Tasker::Client.
module Tasker
  # The loaded libtasker's version ("0.1.0").
  def self.library_version = Native.tasker_version.to_s.dup.force_encoding(Encoding::UTF_8)

  # Logs libtasker's diagnostics to stderr, filtered by $TASKER_LOG ("info", "tasker=debug").
  def self.init_logging = Native.tasker_init_logging

  unless library_version == LIBTASKER_VERSION
    raise LoadError, "tasker #{VERSION} needs libtasker #{LIBTASKER_VERSION}, but #{Native::LIBRARY_PATH} is " \
                     "#{library_version} (no ABI stability before 1.0)"
  end
end
