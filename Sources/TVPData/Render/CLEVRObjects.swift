import Foundation
import TVPTensor

/// CLEVR's shapes (`properties.json`: cube → SmoothCube_v2, sphere → Sphere, cylinder → SmoothCylinder).
public enum CLEVRShape: String, CaseIterable, Sendable {
    case cube, sphere, cylinder
}

/// CLEVR's eight colours with their `properties.json` RGB values.
public enum CLEVRColor: String, CaseIterable, Sendable {
    case gray, red, blue, green, brown, purple, cyan, yellow

    public var rgb: [UInt8] {
        switch self {
        case .gray: return [87, 87, 87]
        case .red: return [173, 35, 35]
        case .blue: return [42, 75, 215]
        case .green: return [29, 105, 20]
        case .brown: return [129, 74, 25]
        case .purple: return [129, 38, 192]
        case .cyan: return [41, 208, 208]
        case .yellow: return [255, 238, 51]
        }
    }

    /// The linear albedo whose gamma-2.2 encoding is `rgb`, so a surface under unit light shows the
    /// listed colour (Blender took the values as linear, which renders them paler than listed).
    public var albedo: Vector3 {
        func linear(_ byte: UInt8) -> Float { pow(Float(byte) / 255, 2.2) }
        return Vector3(linear(rgb[0]), linear(rgb[1]), linear(rgb[2]))
    }
}

/// CLEVR's materials: rubber is matte (diffuse, a faint sheen), metal is shiny (sharp highlight
/// and a colour-tinted reflection of the scene).
public enum CLEVRMaterial: String, CaseIterable, Sendable {
    case rubber, metal
}

/// CLEVR's sizes with their `properties.json` scales (large 0.7, small 0.35).
public enum CLEVRSize: String, CaseIterable, Sendable {
    case large, small

    public var radius: Float { self == .large ? 0.7 : 0.35 }
}

/// One object of a scene, as CLEVR's `render_images.py` places it: a unit mesh scaled by `scale`
/// (the size's radius, divided by √2 for cubes so a cube's footprint circle matches a sphere's), resting
/// on the ground with its centre at height `scale`, turned `rotation` degrees about the vertical axis.
///
/// Geometry: a sphere has radius `scale`; a cube half-side `scale`; a cylinder radius `scale` and
/// half-height `scale` (CLEVR's meshes span [-1, 1] on every axis).
public struct CLEVRObject: Equatable, Sendable {
    public var shape: CLEVRShape
    public var color: CLEVRColor
    public var material: CLEVRMaterial
    public var size: CLEVRSize
    /// The centre of the object (CLEVR's `3d_coords`): z equals `scale`.
    public var position: Vector3
    /// Degrees about the z axis (CLEVR's `rotation`, in [0, 360)).
    public var rotation: Float

    public init(shape: CLEVRShape, color: CLEVRColor, material: CLEVRMaterial, size: CLEVRSize,
                x: Float, y: Float, rotation: Float = 0) {
        self.shape = shape
        self.color = color
        self.material = material
        self.size = size
        self.rotation = rotation
        self.position = Vector3(x, y, shape == .cube ? size.radius / Float(2).squareRoot() : size.radius)
    }

    /// The mesh scale: `size.radius`, over √2 for cubes.
    public var scale: Float { shape == .cube ? size.radius / Float(2).squareRoot() : size.radius }

    /// The radius of a sphere around `position` that holds the whole object.
    public var boundingRadius: Float {
        switch shape {
        case .sphere: return scale
        case .cube: return scale * Float(3).squareRoot()
        case .cylinder: return scale * Float(2).squareRoot()
        }
    }

    /// The POPE object name: "{color} {shape}", e.g. "red cube".
    public var category: String { "\(color.rawValue) \(shape.rawValue)" }
}

/// A ray–surface hit: distance along the (unit) ray direction, unit outward normal, and which object
/// (an index into the scene's objects; `groundIndex` for the floor).
struct RayHit {
    var t: Float
    var normal: Vector3
    var object: Int

    static let groundIndex = -1
    static let missIndex = -2
}

/// An object prepared for ray casting: precomputed rotation and bounds.
struct Primitive {
    let shape: CLEVRShape
    let center: Vector3
    let scale: Float
    let cosTheta: Float
    let sinTheta: Float
    let boundRadiusSquared: Float

    init(_ object: CLEVRObject) {
        shape = object.shape
        center = object.position
        scale = object.scale
        let radians = object.rotation * .pi / 180
        cosTheta = cos(radians)
        sinTheta = sin(radians)
        boundRadiusSquared = object.boundingRadius * object.boundingRadius * 1.0001
    }

    /// The nearest hit with t in (tMin, tMax) of the ray origin + t · direction (direction of unit length).
    @inline(__always)
    func intersect(_ origin: Vector3, _ direction: Vector3, _ tMin: Float, _ tMax: Float) -> (t: Float, normal: Vector3)? {
        let p = origin - center
        // Bounding sphere: reject rays that pass it by.
        let b = p.dot(direction), c = p.dot(p) - boundRadiusSquared
        if c > 0 && b > 0 { return nil }
        if b * b - c < 0 { return nil }
        switch shape {
        case .sphere: return intersectSphere(p, direction, tMin, tMax)
        case .cube: return intersectBox(p, direction, tMin, tMax)
        case .cylinder: return intersectCylinder(p, direction, tMin, tMax)
        }
    }

    /// Sphere of radius `scale` at the origin of `p`'s frame.
    @inline(__always)
    private func intersectSphere(_ p: Vector3, _ d: Vector3, _ tMin: Float, _ tMax: Float) -> (t: Float, normal: Vector3)? {
        let b = p.dot(d), c = p.dot(p) - scale * scale
        let disc = b * b - c
        if disc < 0 { return nil }
        let s = disc.squareRoot()
        var t = -b - s
        if t <= tMin { t = -b + s }
        if t <= tMin || t >= tMax { return nil }
        return (t, (p + d * t) * (1 / scale))
    }

    /// Cube of half-side `scale`, turned `rotation` about z: the ray goes into the cube's frame
    /// (rotated by −θ), meets the three slabs, and the normal comes back rotated by +θ.
    @inline(__always)
    private func intersectBox(_ p: Vector3, _ d: Vector3, _ tMin: Float, _ tMax: Float) -> (t: Float, normal: Vector3)? {
        let lp = Vector3(cosTheta * p.x + sinTheta * p.y, -sinTheta * p.x + cosTheta * p.y, p.z)
        let ld = Vector3(cosTheta * d.x + sinTheta * d.y, -sinTheta * d.x + cosTheta * d.y, d.z)
        var tNear = -Float.infinity, tFar = Float.infinity
        var nearAxis = 0, farAxis = 0
        var nearSign: Float = 1, farSign: Float = 1
        for axis in 0..<3 {
            let o = axis == 0 ? lp.x : (axis == 1 ? lp.y : lp.z)
            let v = axis == 0 ? ld.x : (axis == 1 ? ld.y : ld.z)
            if abs(v) < 1e-12 {
                if abs(o) > scale { return nil }
                continue
            }
            let inv = 1 / v
            var t0 = (-scale - o) * inv, t1 = (scale - o) * inv
            // Entering through the face whose outward normal points against the ray.
            var sign0: Float = -1, sign1: Float = 1
            if t0 > t1 { swap(&t0, &t1); swap(&sign0, &sign1) }
            if t0 > tNear { tNear = t0; nearAxis = axis; nearSign = sign0 }
            if t1 < tFar { tFar = t1; farAxis = axis; farSign = sign1 }
            if tNear > tFar { return nil }
        }
        let t: Float, axis: Int, sign: Float
        if tNear > tMin { (t, axis, sign) = (tNear, nearAxis, nearSign) } else { (t, axis, sign) = (tFar, farAxis, farSign) }
        if t <= tMin || t >= tMax { return nil }
        if axis == 2 { return (t, Vector3(0, 0, sign)) }
        let lnx: Float = axis == 0 ? sign : 0, lny: Float = axis == 1 ? sign : 0
        return (t, Vector3(cosTheta * lnx - sinTheta * lny, sinTheta * lnx + cosTheta * lny, 0))
    }

    /// Upright cylinder of radius and half-height `scale`: the side, then the two caps.
    @inline(__always)
    private func intersectCylinder(_ p: Vector3, _ d: Vector3, _ tMin: Float, _ tMax: Float) -> (t: Float, normal: Vector3)? {
        let r = scale
        var best = tMax
        var normal = Vector3.zero
        let a = d.x * d.x + d.y * d.y
        if a > 1e-12 {
            let b = p.x * d.x + p.y * d.y, c = p.x * p.x + p.y * p.y - r * r
            let disc = b * b - a * c
            if disc >= 0 {
                let s = disc.squareRoot()
                // The nearer root first; the farther one when the nearer misses the height range.
                var t = (-b - s) / a
                if t <= tMin || abs(p.z + t * d.z) > r { t = (-b + s) / a }
                if t > tMin && t < best && abs(p.z + t * d.z) <= r {
                    best = t
                    normal = Vector3((p.x + t * d.x) / r, (p.y + t * d.y) / r, 0)
                }
            }
        }
        if abs(d.z) > 1e-12 {
            for side in 0..<2 {
                let cap: Float = side == 0 ? r : -r
                let t = (cap - p.z) / d.z
                if t > tMin && t < best {
                    let x = p.x + t * d.x, y = p.y + t * d.y
                    if x * x + y * y <= r * r {
                        best = t
                        normal = Vector3(0, 0, cap > 0 ? 1 : -1)
                    }
                }
            }
        }
        return best < tMax ? (best, normal) : nil
    }
}
