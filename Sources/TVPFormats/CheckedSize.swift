/// Arithmetic on sizes, counts, offsets and shapes read from files. A hostile file can hold any
/// number in these fields; the readers combine them only through these functions, which return
/// nil where plain arithmetic would overflow (or a factor is negative), and compare the result
/// with the bytes actually present before they allocate anything.
public enum CheckedSize {
    /// `a + b`, or nil when either is negative or the sum overflows Int.
    public static func sum(_ a: Int, _ b: Int) -> Int? {
        guard a >= 0, b >= 0 else { return nil }
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : s
    }

    /// `a × b`, or nil when either is negative or the product overflows Int.
    public static func product(_ a: Int, _ b: Int) -> Int? {
        guard a >= 0, b >= 0 else { return nil }
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : p
    }

    /// The product of `factors` (1 for none), or nil when a factor is negative or any partial
    /// product overflows — also when a later factor is zero: a shape like [2^62, 2^62, 0] is refused.
    public static func product<S: Sequence>(_ factors: S) -> Int? where S.Element == Int {
        var p = 1
        for f in factors {
            guard let next = product(p, f) else { return nil }
            p = next
        }
        return p
    }

    /// Bytes of `shape` elements of `elementSize` bytes each, or nil on overflow.
    public static func bytes<S: Sequence>(shape: S, elementSize: Int) -> Int? where S.Element == Int {
        product(shape).flatMap { product($0, elementSize) }
    }

    /// Whether `offset ..< offset + count` lies inside `0 ..< available` (all in the same unit).
    public static func fits(offset: Int, count: Int, in available: Int) -> Bool {
        guard let end = sum(offset, count) else { return false }
        return end <= available
    }
}
