# frozen_string_literal: true

module Tasker
  # Version of this gem. It is built against libtasker 0.1.0 (checked at load time).
  VERSION = "0.1.0"
  # The libtasker version this gem was written for. No ABI stability is promised before 1.0,
  # so the loaded library must match exactly.
  LIBTASKER_VERSION = "0.1.0"
end
