# frozen_string_literal: true

require "ffi"

module Tasker
  # Raw bindings to libtasker's C ABI (include/tasker.h). Private to the gem: use Tasker::Client.
  #
  # Every function that may block on the database, wait, or call back into Ruby is attached with
  # `blocking: true`: the GVL is released for the duration of the call so other Ruby threads keep
  # running, and the ffi gem re-acquires it for callbacks, which libtasker only ever invokes on the
  # thread that made the call.
  module Native
    extend FFI::Library

    # Where libtasker.so is loaded from, in order: $TASKER_LIB (a file), $TASKER_LIB_DIR/libtasker.so,
    # the staged build of the libtasker checkout this gem sits in (not once installed), the libdir of
    # the tasker.pc that pkg-config finds (PKG_CONFIG_PATH), else the system loader's "tasker"
    # (LD_LIBRARY_PATH, ldconfig's cache, the default directories).
    def self.library_path
      if (lib = ENV["TASKER_LIB"]) && !lib.empty?
        return lib
      end
      if (dir = ENV["TASKER_LIB_DIR"]) && !dir.empty?
        return File.join(dir, "libtasker.so")
      end
      repo = File.expand_path("../../../..", __dir__)
      if File.file?(File.join(repo, "Cargo.toml")) && File.directory?(File.join(repo, "wrappers", "ruby"))
        staged = %w[debug release].map { |p| File.join(repo, "target", "clib", p, "libtasker.so") }
                                  .find { |f| File.exist?(f) }
        return staged if staged
      end
      pkg_config_lib || "tasker"
    end

    # libtasker.so in the libdir that `pkg-config --variable=libdir tasker` names, if it exists.
    def self.pkg_config_lib
      libdir = IO.popen(%w[pkg-config --variable=libdir tasker], err: File::NULL, &:read).strip
      lib = File.join(libdir, "libtasker.so")
      $?.success? && !libdir.empty? && File.exist?(lib) ? lib : nil
    rescue SystemCallError
      nil
    end

    LIBRARY_PATH = library_path
    begin
      ffi_lib LIBRARY_PATH
    rescue LoadError => e
      raise LoadError, "tasker: cannot load libtasker from #{LIBRARY_PATH.inspect} (set TASKER_LIB or " \
                       "TASKER_LIB_DIR, or run `make lib` in the libtasker checkout): #{e.message}"
    end

    # tasker_bytes: an owned output buffer, released with tasker_bytes_free.
    class Bytes < FFI::Struct
      layout :data, :pointer, :len, :size_t, :cap, :size_t

      # Copies the contents into a binary Ruby String.
      def to_s
        self[:len].zero? ? "".b : self[:data].read_bytes(self[:len])
      end
    end

    callback :tasker_process_fn, %i[pointer pointer pointer size_t], :void
    callback :tasker_process_results_fn, %i[pointer pointer pointer size_t pointer size_t], :void
    callback :tasker_userdata_free_fn, [:pointer], :void
    callback :tasker_enqueue_fn, %i[pointer int64 uint64], :int32
    callback :tasker_event_fn, %i[pointer pointer size_t], :void

    # Errors, buffers, versions: pure, never block.
    attach_function :tasker_error_code, [:pointer], :uint32
    attach_function :tasker_error_message, [:pointer], :string
    attach_function :tasker_error_free, [:pointer], :void
    attach_function :tasker_result_name, [:uint32], :string
    attach_function :tasker_bytes_free, [Bytes.by_ref], :void
    attach_function :tasker_version, [], :string
    attach_function :tasker_init_logging, [], :void

    # Client lifecycle. Freeing may run userdata finalizers (Ruby callbacks) and shut a runtime down.
    attach_function :tasker_client_new, %i[string pointer size_t pointer pointer], :uint32, blocking: true
    attach_function :tasker_client_free, [:pointer], :void, blocking: true
    # Shutdown (docs/ABI.md "Shutdown"): close waits for the calls running on other threads;
    # interrupt returns at once and is safe from any thread (not from inside a POSIX signal handler,
    # which Ruby never runs Ruby code in: traps run later, on the main thread).
    attach_function :tasker_client_close, %i[pointer pointer], :uint32, blocking: true
    attach_function :tasker_client_interrupt, [:pointer], :void, blocking: true
    attach_function :tasker_migrate, %i[pointer pointer], :uint32, blocking: true

    # Templates and handlers (database writes; replacing a handler runs its finalizer).
    attach_function :tasker_register_template_yaml, %i[pointer pointer size_t pointer], :uint32, blocking: true
    attach_function :tasker_register_template_file, %i[pointer string pointer], :uint32, blocking: true
    attach_function :tasker_register_template_msgpack, %i[pointer pointer size_t pointer], :uint32, blocking: true
    attach_function :tasker_register_handler,
                    %i[pointer string tasker_process_fn tasker_process_results_fn pointer tasker_userdata_free_fn pointer],
                    :uint32, blocking: true
    attach_function :tasker_unregister_handler, %i[pointer string pointer pointer], :uint32, blocking: true

    # Tasks and the three ways to drive work.
    attach_function :tasker_create_task, %i[pointer pointer size_t pointer pointer pointer], :uint32, blocking: true
    attach_function :tasker_run_task, [:pointer, :int64, Bytes.by_ref, :pointer], :uint32, blocking: true
    attach_function :tasker_worker_new, %i[pointer pointer pointer], :uint32, blocking: true
    attach_function :tasker_worker_run_once, %i[pointer pointer pointer], :uint32, blocking: true
    attach_function :tasker_worker_run, %i[pointer pointer pointer], :uint32, blocking: true
    attach_function :tasker_worker_stop, [:pointer], :void
    attach_function :tasker_worker_reset, [:pointer], :void
    attach_function :tasker_worker_free, [:pointer], :void, blocking: true
    attach_function :tasker_set_queue_injector,
                    %i[pointer tasker_enqueue_fn tasker_enqueue_fn pointer tasker_userdata_free_fn pointer],
                    :uint32, blocking: true
    attach_function :tasker_handle_step, [:pointer, :int64, Bytes.by_ref, :pointer], :uint32, blocking: true
    attach_function :tasker_handle_task, [:pointer, :int64, Bytes.by_ref, :pointer], :uint32, blocking: true

    # One handler call without the database (tests, benchmarks); the handler runs on this thread.
    # Newer than the first 0.1.0 builds, so it is optional: a library without it still loads and
    # Client#call_handler raises (see call_handler?).
    begin
      attach_function :tasker_call_handler, [:pointer, :pointer, :size_t, Bytes.by_ref, :pointer], :uint32,
                      blocking: true
    rescue FFI::NotFoundError
      nil
    end

    def self.call_handler? = respond_to?(:tasker_call_handler)

    # Events.
    attach_function :tasker_subscribe, %i[pointer string tasker_event_fn pointer tasker_userdata_free_fn pointer pointer],
                    :uint32, blocking: true
    attach_function :tasker_subscription_free, [:pointer], :void, blocking: true

    # Inspection and operator actions.
    attach_function :tasker_task_view, [:pointer, :int64, Bytes.by_ref, :pointer], :uint32, blocking: true
    attach_function :tasker_execution_context, [:pointer, :int64, Bytes.by_ref, :pointer], :uint32, blocking: true
    attach_function :tasker_health, [:pointer, Bytes.by_ref, :pointer], :uint32, blocking: true
    attach_function :tasker_cancel_task, %i[pointer int64 pointer pointer], :uint32, blocking: true
    attach_function :tasker_resolve_step, %i[pointer int64 pointer size_t pointer pointer], :uint32, blocking: true
    attach_function :tasker_retry_step, %i[pointer int64 pointer pointer], :uint32, blocking: true

    # Queries: wait for a task to settle (interruptible), list tasks and steps by filter.
    attach_function :tasker_wait_task, [:pointer, :int64, :uint64, Bytes.by_ref, :pointer], :uint32, blocking: true
    attach_function :tasker_list_tasks, [:pointer, :pointer, :size_t, Bytes.by_ref, :pointer], :uint32, blocking: true
    attach_function :tasker_list_steps, [:pointer, :pointer, :size_t, Bytes.by_ref, :pointer], :uint32, blocking: true

    # Cron schedules (docs/SCHEDULING.md).
    attach_function :tasker_schedule_upsert, [:pointer, :pointer, :size_t, Bytes.by_ref, :pointer], :uint32, blocking: true
    attach_function :tasker_schedule_delete, %i[pointer string pointer pointer], :uint32, blocking: true
    attach_function :tasker_schedule_set_enabled, %i[pointer string bool pointer pointer], :uint32, blocking: true
    attach_function :tasker_schedule_list, [:pointer, Bytes.by_ref, :pointer], :uint32, blocking: true
    attach_function :tasker_schedule_fire_due, %i[pointer int64 pointer pointer], :uint32, blocking: true
    attach_function :tasker_enforce_deadlines, %i[pointer pointer pointer], :uint32, blocking: true
    attach_function :tasker_apply_retention, %i[pointer pointer pointer], :uint32, blocking: true
    attach_function :tasker_purge_tasks, [:pointer, :pointer, :size_t, Bytes.by_ref, :pointer], :uint32, blocking: true

    # Inside a handler callback (same thread, before it returns). Heartbeat touches the database.
    attach_function :tasker_step_call_set_output, %i[pointer pointer size_t pointer], :uint32
    attach_function :tasker_step_call_fail, %i[pointer string string bool double pointer size_t pointer], :uint32
    attach_function :tasker_step_call_heartbeat, %i[pointer pointer pointer], :uint32, blocking: true
    attach_function :tasker_step_call_is_cancelled, %i[pointer pointer pointer], :uint32, blocking: true
    attach_function :tasker_step_call_checkpoint, %i[pointer pointer size_t pointer], :uint32, blocking: true
    attach_function :tasker_step_call_step_id, [:pointer], :int64

    # Releasers for FFI::AutoPointer (class methods, so no closure keeps the owner alive).
    module Release
      def self.client(ptr) = Native.tasker_client_free(ptr)
      def self.worker(ptr) = Native.tasker_worker_free(ptr)
      def self.subscription(ptr) = Native.tasker_subscription_free(ptr)
    end

    # Calls a fallible function with a trailing `tasker_error **` and raises Tasker::Error (the
    # subclass for its code) when it fails. Returns nothing useful: outputs go through out-params.
    def self.check!(function, *args)
      errp = FFI::MemoryPointer.new(:pointer)
      code = public_send(function, *args, errp)
      return if code.zero?

      raise Tasker::Error.from_native(code, errp.read_pointer)
    end

    # Reads and frees a buffer filled by libtasker; returns the decoded document.
    def self.take_document(bytes)
      Codec.decode(bytes.to_s)
    ensure
      tasker_bytes_free(bytes)
    end

    # Writes Ruby bytes into native memory for a borrowed (ptr, len) input.
    def self.buffer(bytes)
      return [nil, 0] if bytes.nil? || bytes.empty?

      mem = FFI::MemoryPointer.new(:uint8, bytes.bytesize)
      mem.put_bytes(0, bytes)
      [mem, bytes.bytesize]
    end
  end
end
