extension UnsafeMutableBufferPointer {
    /// A new buffer of `count` elements, each `value`: per-slot state the loop allocates once, so that the tick
    /// itself never allocates. The owner deallocates it.
    static func filled(_ count: Int, with value: Element) -> Self {
        let buffer = allocate(capacity: count)
        buffer.initialize(repeating: value)
        return buffer
    }
}
