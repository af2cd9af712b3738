# frozen_string_literal: true

module Tasker
  # The output key by which a batchable handler lists its batches.
  BATCHES_KEY = "batches"
  # Marks a batch failure a continue_on_failure fan-out tolerated, in the convergence's input.
  TOLERATED_KEY = "tolerated"

  # The output of a `type: batchable` step's handler: one worker step per spec, each spec
  # becoming its worker's `inputs` (docs/DYNAMIC_WORKFLOWS.md); `results` are stored beside the
  # batches. More than the template's `max_batches` fails the step permanently
  # (class "TooManyBatches").
  def self.batches(specs, **results)
    results.transform_keys(&:to_s).merge(BATCHES_KEY => specs.to_a)
  end

  # A batchable handler's output that creates no worker: the convergence step still runs.
  def self.no_batches(**results) = batches([], **results)

  # A convergence step's batches of `worker`, by instance name (`<worker>_001`, ...), in batch
  # order: [succeeded (name => result), failed (name => error document)]. Failed batches appear
  # only under `failure: continue_on_failure`, as the failure the fan-out tolerated.
  def self.batch_results(dependency_results, worker)
    pattern = /\A#{Regexp.escape(worker.to_s)}_[0-9]+\z/
    succeeded = {}
    failed = {}
    dependency_results.keys.grep(pattern).sort.each do |name|
      r = dependency_results[name]
      if r.is_a?(Hash) && r[TOLERATED_KEY] == true && r.key?("error")
        failed[name] = r["error"]
      else
        succeeded[name] = r
      end
    end
    [succeeded, failed]
  end
end
