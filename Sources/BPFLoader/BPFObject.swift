import CLibBPF
import Glibc

/// An opened BPF object: configure it (tunables, which programs load, map sizes), load it, then attach its
/// programs and use its maps. Closing (deinit) unloads every program and map that no link or pin still holds.
///
/// - Important: All libbpf calls of this module go through this file, `BPFMap.swift`, `RingBufferConsumer.swift`
///   and `FlushRequester.swift`; the rest of the module is plain Swift.
public final class BPFObject {
    public let name: String
    private let handle: OpaquePointer
    /// libbpf parses the ELF image in place: it must outlive the object.
    private let image: UnsafeMutableRawBufferPointer

    /// Opens an embedded object. Checks capabilities and BTF first, so the common failures come out typed.
    public init(_ embedded: EmbeddedBPFObject) throws {
        try Privileges.requireBPF()
        try KernelFeatures.requireKernelBTF()
        name = embedded.name
        let bytes = embedded.bytes
        image = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
        image.copyBytes(from: bytes)
        guard let handle = dpm_object_open_mem(image.baseAddress, image.count, embedded.name) else {
            let error = errno
            image.deallocate()
            throw BPFError.openFailed(object: embedded.name, errno: error)
        }
        self.handle = handle
    }

    deinit {
        bpf_object__close(handle)
        image.deallocate()
    }

    /// Chooses whether `load()` loads a program (for example one flavour of a tp_btf/raw_tp pair).
    public func setAutoload(program: String, _ enabled: Bool) throws {
        _ = bpf_program__set_autoload(try programHandle(program), enabled)
    }

    /// Skips creating a map that only unloaded programs use.
    public func setAutocreate(map: String, _ enabled: Bool) throws {
        _ = bpf_map__set_autocreate(try mapHandle(map), enabled)
    }

    /// Sets a map's size before load (a ring buffer's byte size: a power of two, multiple of the page size).
    public func setMaxEntries(map: String, _ entries: UInt32) throws {
        let result = bpf_map__set_max_entries(try mapHandle(map), entries)
        if result < 0 { throw BPFError.mapOperationFailed(map: map, operation: "set max_entries", errno: -result) }
    }

    /// Sets a `const volatile` tunable before load: the verifier then sees it as a constant.
    public func setReadOnlyVariable<Value: BitwiseCopyable>(_ variable: String, to value: Value) throws {
        let section = ".rodata"
        var offset: UInt32 = 0
        var size: UInt32 = 0
        guard dpm_datasec_variable(handle, section, variable, &offset, &size) == 0,
              size == UInt32(MemoryLayout<Value>.size),
              let map = bpf_object__find_map_by_name(handle, section)
        else { throw BPFError.variableNotFound(object: name, section: section, variable: variable) }
        var sectionSize = 0
        guard let data = bpf_map__initial_value(map, &sectionSize), Int(offset) + Int(size) <= sectionSize else {
            throw BPFError.variableNotFound(object: name, section: section, variable: variable)
        }
        UnsafeMutableRawPointer(mutating: data).storeBytes(of: value, toByteOffset: Int(offset), as: Value.self)
    }

    /// Writes a global (`.bss`) variable of the loaded object; programs see it on their next run.
    public func storeGlobalVariable<Value: BitwiseCopyable>(_ variable: String, _ value: Value) throws {
        let section = ".bss"
        var offset: UInt32 = 0
        var size: UInt32 = 0
        guard dpm_datasec_variable(handle, section, variable, &offset, &size) == 0,
              size == UInt32(MemoryLayout<Value>.size)
        else { throw BPFError.variableNotFound(object: name, section: section, variable: variable) }
        let globals = try map(section)
        var image = [UInt8](repeating: 0, count: globals.valueSize)
        try image.withUnsafeMutableBytes { bytes in
            try globals.lookupRaw(key: UInt32(0), into: bytes)
            bytes.storeBytes(of: value, toByteOffset: Int(offset), as: Value.self)
            try globals.updateRaw(key: UInt32(0), value: UnsafeRawBufferPointer(bytes))
        }
    }

    /// Loads every autoloaded program and creates the maps. The verifier's complaints go to stderr via libbpf.
    public func load() throws {
        let result = bpf_object__load(handle)
        if result < 0 { throw BPFError.loadFailed(object: name, errno: -result) }
    }

    /// A map of the loaded object, by its name in the C source (or ".rodata", ".bss" for globals).
    public func map(_ mapName: String) throws -> BPFMap {
        let map = try mapHandle(mapName)
        return BPFMap(
            name: mapName,
            fileDescriptor: bpf_map__fd(map),
            keySize: Int(bpf_map__key_size(map)),
            valueSize: Int(bpf_map__value_size(map)),
            maxEntries: Int(bpf_map__max_entries(map)),
            isPerCPU: [BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH]
                .contains(bpf_map__type(map))
        )
    }

    /// Attaches a tracing program where its section name says (`tp_btf/…`, `raw_tp/…`).
    public func attach(program: String) throws -> BPFLink {
        let prog = try programHandle(program)
        guard let link = bpf_program__attach(prog) else {
            throw BPFError.attachFailed(program: program, target: "its tracepoint", errno: errno)
        }
        return BPFLink(handle: link)
    }

    /// Attaches a `cgroup_skb` (or other cgroup) program to a cgroup v2 directory through a BPF link, beside any
    /// programs others attached there; the link detaches when released, and the kernel drops it with the cgroup.
    public func attach(program: String, cgroupPath: String) throws -> BPFLink {
        let prog = try programHandle(program)
        let directory = open(cgroupPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw BPFError.attachFailed(program: program, target: cgroupPath, errno: errno) }
        defer { close(directory) }
        guard let link = dpm_attach_cgroup(prog, directory) else {
            throw BPFError.attachFailed(program: program, target: cgroupPath, errno: errno)
        }
        return BPFLink(handle: link)
    }

    /// Pins a map at `path`, so `bpftool map dump pinned PATH` shows it with its BTF field names.
    public func pin(map mapName: String, at path: String) throws {
        let result = bpf_map__pin(try mapHandle(mapName), path)
        if result < 0 { throw BPFError.pinFailed(path: path, errno: -result) }
    }

    /// The file descriptor of a loaded program (owned by this object; valid while it lives), for attachments that
    /// go through other interfaces (a tc filter over netlink).
    public func programFileDescriptor(_ program: String) throws -> Int32 {
        let descriptor = bpf_program__fd(try programHandle(program))
        if descriptor < 0 { throw BPFError.programNotFound(object: name, program: program) }
        return descriptor
    }

    /// Pins a loaded program at `path`.
    public func pin(program: String, at path: String) throws {
        let result = bpf_program__pin(try programHandle(program), path)
        if result < 0 { throw BPFError.pinFailed(path: path, errno: -result) }
    }

    private func programHandle(_ program: String) throws -> OpaquePointer {
        guard let prog = bpf_object__find_program_by_name(handle, program) else {
            throw BPFError.programNotFound(object: name, program: program)
        }
        return prog
    }

    private func mapHandle(_ mapName: String) throws -> OpaquePointer {
        guard let map = bpf_object__find_map_by_name(handle, mapName) else {
            throw BPFError.mapNotFound(object: name, map: mapName)
        }
        return map
    }
}

/// An attachment of a program. Releasing it detaches the program unless the link is pinned.
public final class BPFLink {
    private let handle: OpaquePointer

    init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        bpf_link__destroy(handle)
    }

    /// Pins the link at `path` (an attachment outlives the process only while pinned).
    public func pin(at path: String) throws {
        let result = bpf_link__pin(handle, path)
        if result < 0 { throw BPFError.pinFailed(path: path, errno: -result) }
    }

    /// Removes the pin; the attachment then lives as long as this link.
    public func unpin() {
        _ = bpf_link__unpin(handle)
    }
}
