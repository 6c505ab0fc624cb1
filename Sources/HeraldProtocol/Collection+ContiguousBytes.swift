extension Collection<UInt8> {
    /// Calls `body` with the bytes in one contiguous buffer, copying only when the collection
    /// has no contiguous storage of its own (a `ByteBufferView` or `[UInt8]` never copies).
    public func withContiguousBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let direct = withContiguousStorageIfAvailable { buffer in
            Swift.Result { () throws(Failure) in try body(UnsafeRawBufferPointer(buffer)) }
        }
        if let direct { return try direct.get() }
        return try Array(self).withUnsafeBytes { raw in Swift.Result { () throws(Failure) in try body(raw) } }.get()
    }
}
