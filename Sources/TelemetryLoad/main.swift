import Glibc

// A load generator for the telemetry kernel tests, benchmarks and demo: joins a cgroup v2 directory first (unless
// CGROUP is "-"), so all it does counts for that tenant, then does one job.
//
//   TelemetryLoad CGROUP touch-pages N        fault in N fresh 4 KiB pages
//   TelemetryLoad CGROUP send-tcp PORT BYTES  send BYTES to 127.0.0.1:PORT
//   TelemetryLoad CGROUP serve-tcp PORT       accept one connection on 127.0.0.1:PORT and read it to the end
//   TelemetryLoad CGROUP nap SECONDS          wake up every millisecond for SECONDS; prints how many naps it took
//   TelemetryLoad CGROUP spin SECONDS THREADS  THREADS busy threads (pin with `taskset`); prints the process's
//                                             CPU time in ns

func fail(_ message: String) -> Never {
    let line = "TelemetryLoad: \(message)\n"
    _ = write(2, line, line.utf8.count)
    exit(2)
}

func argument<Value: LosslessStringConvertible>(_ index: Int, _ name: String) -> Value {
    guard let value = Value(CommandLine.arguments[index]) else { fail("bad \(name): \(CommandLine.arguments[index])") }
    return value
}

func joinCgroup(_ path: String) {
    let procs = open("\(path)/cgroup.procs", O_WRONLY)
    guard procs >= 0 else { fail("open \(path)/cgroup.procs: errno \(errno)") }
    let pid = "\(getpid())"
    guard write(procs, pid, pid.utf8.count) == pid.utf8.count else { fail("join \(path): errno \(errno)") }
    close(procs)
}

func touchPages(_ count: Int) {
    let pageSize = 4096
    guard let memory = mmap(nil, count * pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
          memory != MAP_FAILED
    else { fail("mmap: errno \(errno)") }
    // One fault per page: no transparent huge pages for this mapping.
    madvise(memory, count * pageSize, MADV_NOHUGEPAGE)
    for page in 0..<count { memory.storeBytes(of: 1, toByteOffset: page * pageSize, as: UInt8.self) }
    munmap(memory, count * pageSize)
}

/// Runs `call` with 127.0.0.1:`port` as a `sockaddr`.
func withLoopbackAddress<Result>(port: UInt16, _ call: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

func serveTCP(port: UInt16) {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var reuse: Int32 = 1
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
    guard withLoopbackAddress(port: port, { bind(listener, $0, $1) }) == 0, listen(listener, 1) == 0 else {
        fail("listen on 127.0.0.1:\(port): errno \(errno)")
    }
    let connection = accept(listener, nil, nil)
    var buffer = [UInt8](repeating: 0, count: 65536)
    while recv(connection, &buffer, buffer.count, 0) > 0 {}
    close(connection)
}

func sendTCP(port: UInt16, bytes: Int) {
    let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard withLoopbackAddress(port: port, { connect(socketFD, $0, $1) }) == 0 else {
        fail("connect 127.0.0.1:\(port): errno \(errno)")
    }
    let chunk = [UInt8](repeating: 0x5a, count: 65536)
    var left = bytes
    while left > 0 {
        let sent = chunk.withUnsafeBytes { send(socketFD, $0.baseAddress, min(left, $0.count), 0) }
        guard sent > 0 else { fail("send: errno \(errno)") }
        left -= sent
    }
    shutdown(socketFD, Int32(SHUT_WR))
    var sink = [UInt8](repeating: 0, count: 16)
    while recv(socketFD, &sink, sink.count, 0) > 0 {}
    close(socketFD)
}

func spin(seconds: Double, threads: Int) {
    let deadline = UInt64(seconds * 1e9)
    var workers: [pthread_t] = []
    for _ in 0..<threads {
        var thread = pthread_t()
        let box = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        box.initialize(to: deadline)
        pthread_create(&thread, nil, { argument in
            let deadline = argument!.assumingMemoryBound(to: UInt64.self)
            let start = threadNanoseconds(CLOCK_MONOTONIC)
            var sink: UInt64 = 0
            while threadNanoseconds(CLOCK_MONOTONIC) - start < deadline.pointee { sink &+= 1 }
            deadline.deallocate()
            return UnsafeMutableRawPointer(bitPattern: UInt(sink | 1))
        }, box)
        workers.append(thread)
    }
    for worker in workers { pthread_join(worker, nil) }
    print(threadNanoseconds(CLOCK_PROCESS_CPUTIME_ID))
}

/// SCHED_FIFO at the lowest real-time priority, inherited by the threads started after: nothing of the CFS class
/// preempts it, so it keeps its CPU without a context switch (until RT throttling, 950 ms of each second here).
func becomeRealTime() {
    var parameters = sched_param(sched_priority: 1)
    guard sched_setscheduler(0, SCHED_FIFO, &parameters) == 0 else { fail("SCHED_FIFO: errno \(errno)") }
}

func nap(seconds: Double) {
    let end = threadNanoseconds(CLOCK_MONOTONIC) + UInt64(seconds * 1e9)
    var millisecond = timespec(tv_sec: 0, tv_nsec: 1_000_000)
    var naps = 0
    while threadNanoseconds(CLOCK_MONOTONIC) < end {
        nanosleep(&millisecond, nil)
        naps += 1
    }
    print(naps)
}

func threadNanoseconds(_ clock: clockid_t) -> UInt64 {
    var now = timespec()
    clock_gettime(clock, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else { fail("usage: TelemetryLoad CGROUP touch-pages|send-tcp|spin|spin-fifo ARGS…") }
if arguments[1] != "-" { joinCgroup(arguments[1]) }
switch (arguments[2], arguments.count) {
case ("touch-pages", 4): touchPages(argument(3, "page count"))
case ("send-tcp", 5): sendTCP(port: argument(3, "port"), bytes: argument(4, "byte count"))
case ("serve-tcp", 4): serveTCP(port: argument(3, "port"))
case ("nap", 4): nap(seconds: argument(3, "seconds"))
case ("spin", 5): spin(seconds: argument(3, "seconds"), threads: argument(4, "thread count"))
case ("spin-fifo", 5):
    becomeRealTime()
    spin(seconds: argument(3, "seconds"), threads: argument(4, "thread count"))
default: fail("unknown job \(arguments.dropFirst(2).joined(separator: " "))")
}
