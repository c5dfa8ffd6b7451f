import Foundation

/// A point or direction in the scene (world units; z is up, the ground is z = 0), or a linear RGB colour.
/// A plain struct rather than SIMD3 so debug builds stay fast enough for tiny test renders.
public struct Vector3: Equatable, Sendable {
    public var x: Float
    public var y: Float
    public var z: Float

    @inlinable public init(_ x: Float, _ y: Float, _ z: Float) {
        self.x = x
        self.y = y
        self.z = z
    }

    public static let zero = Vector3(0, 0, 0)

    @inlinable public static func + (a: Vector3, b: Vector3) -> Vector3 { Vector3(a.x + b.x, a.y + b.y, a.z + b.z) }
    @inlinable public static func - (a: Vector3, b: Vector3) -> Vector3 { Vector3(a.x - b.x, a.y - b.y, a.z - b.z) }
    @inlinable public static prefix func - (a: Vector3) -> Vector3 { Vector3(-a.x, -a.y, -a.z) }
    @inlinable public static func * (a: Vector3, s: Float) -> Vector3 { Vector3(a.x * s, a.y * s, a.z * s) }
    @inlinable public static func * (s: Float, a: Vector3) -> Vector3 { Vector3(a.x * s, a.y * s, a.z * s) }
    /// Componentwise product (colour times colour).
    @inlinable public static func * (a: Vector3, b: Vector3) -> Vector3 { Vector3(a.x * b.x, a.y * b.y, a.z * b.z) }
    @inlinable public static func += (a: inout Vector3, b: Vector3) { a = a + b }

    @inlinable public func dot(_ b: Vector3) -> Float { x * b.x + y * b.y + z * b.z }
    @inlinable public func cross(_ b: Vector3) -> Vector3 {
        Vector3(y * b.z - z * b.y, z * b.x - x * b.z, x * b.y - y * b.x)
    }
    @inlinable public var length: Float { dot(self).squareRoot() }
    @inlinable public var normalized: Vector3 {
        let l = length
        return l > 0 ? self * (1 / l) : self
    }
}

/// Counter-based random numbers for the renderer: a pure function of its inputs, so every pixel's
/// sample jitter is the same whatever thread renders it (byte-identical images for one seed).
enum PixelHash {
    /// SplitMix64 finalizer over a few 64-bit words.
    @inline(__always)
    static func mix(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        var z = a &* 0x9E37_79B9_7F4A_7C15 ^ (b &+ 0x632B_E59B_D9B4_E019) &* 0xBF58_476D_1CE4_E5B9 ^ c &* 0x94D0_49BB_1331_11EB
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Two uniform numbers in [0, 1) from one hash (24 bits each).
    @inline(__always)
    static func uniformPair(_ h: UInt64) -> (Float, Float) {
        (Float(h >> 40) * (1.0 / 16_777_216), Float((h >> 8) & 0xFF_FFFF) * (1.0 / 16_777_216))
    }
}

/// FNV-1a of a string, to mix a split name into seeds (stable across runs and platforms, unlike `hashValue`).
func stableHash(_ text: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
    return h
}
