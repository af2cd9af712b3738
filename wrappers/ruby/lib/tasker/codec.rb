# frozen_string_literal: true

require "msgpack"

module Tasker
  # MessagePack encoding of the documents crossing the boundary. libtasker accepts JSON-like
  # values only: string keys (Symbols are written as strings) and str-typed strings. Ruby's msgpack
  # writes binary-encoded Strings as `bin`, which libtasker rejects, so the packer runs in
  # compatibility mode (every String as `str`; libtasker then checks that it is valid UTF-8).
  module Codec
    FACTORY = MessagePack::Factory.new

    module_function

    def encode(value)
      packer = FACTORY.packer(compatibility_mode: true)
      packer.write(value)
      packer.to_s
    end

    def decode(bytes)
      return nil if bytes.nil? || bytes.empty?

      FACTORY.unpacker.feed(bytes).read
    end
  end
end
