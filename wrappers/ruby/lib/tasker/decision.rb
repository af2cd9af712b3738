# frozen_string_literal: true

module Tasker
  # The output key by which a decision handler chooses its steps.
  ACTIVATE_KEY = "activate"

  # The output of a `type: decision` step's handler that creates the candidates `names` (none,
  # one or several; docs/DYNAMIC_WORKFLOWS.md); `results` are stored beside the choice. A name
  # that is not a candidate fails the step permanently (class "InvalidDecision").
  def self.activate(*names, **results)
    results.transform_keys(&:to_s).merge(ACTIVATE_KEY => names.flatten.map(&:to_s))
  end
end
