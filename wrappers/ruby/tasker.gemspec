# frozen_string_literal: true

require_relative "lib/tasker/version"

Gem::Specification.new do |spec|
  spec.name = "tasker"
  spec.version = Tasker::VERSION
  spec.summary = "Ruby binding of libtasker, a workflow orchestration core (DAG steps, retries, SQLite/PostgreSQL)"
  spec.description = <<~DESC
    Describe workflows as task templates (a DAG of named steps), register step handlers in Ruby and
    let libtasker decide what runs next: claims with leases, retries with backoff, manual resolution,
    cancellation, lifecycle events. Work runs on built-in worker threads, inline, or through your own
    job queue (Sidekiq-style host-queue hooks). Binds libtasker's C ABI with the ffi gem.
  DESC
  spec.authors = ["libtasker contributors"]
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.0"
  spec.files = Dir["lib/**/*.rb", "examples/*.rb", "README.md"]
  spec.require_paths = ["lib"]
  spec.requirements << "libtasker #{Tasker::LIBTASKER_VERSION} (libtasker.so, found through TASKER_LIB, " \
                       "TASKER_LIB_DIR, pkg-config's tasker.pc or the system loader)"
  spec.add_dependency "ffi", ">= 1.15"
  spec.add_dependency "msgpack", ">= 1.4"
  spec.add_development_dependency "minitest", ">= 5.15"
  spec.metadata["rubygems_mfa_required"] = "true"
end
