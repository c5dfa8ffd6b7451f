import Foundation

/// A pinhole camera as CLEVR's `base_scene.blend` has it: Blender's default camera (location
/// (7.359, −6.926, 4.958), Euler XYZ (63.559°, 0.620°, 46.692°), a 35 mm lens on a 32 mm sensor fitted
/// to the larger image side), which looks down at the origin from about 26° above the ground.
/// `render_images.py` jitters only the location, by up to ±`camera_jitter` (0.5) per axis.
public struct CLEVRCamera: Equatable, Sendable {
    public var position: Vector3
    /// Unit vectors of the camera frame in world coordinates: image right, image up, and the view direction.
    public var right: Vector3
    public var up: Vector3
    public var forward: Vector3
    /// tan(horizontal half field of view) for landscape and square images (16 / 35); for portrait
    /// images it applies to the vertical side (Blender's "auto" sensor fit).
    public var halfFieldTangent: Float

    public init(position: Vector3, right: Vector3, up: Vector3, forward: Vector3, halfFieldTangent: Float = 16.0 / 35.0) {
        self.position = position
        self.right = right
        self.up = up
        self.forward = forward
        self.halfFieldTangent = halfFieldTangent
    }

    /// CLEVR's camera, moved by `jitter` (each component in [−0.5, 0.5] in `render_images.py`).
    public static func clevr(jitter: Vector3 = .zero) -> CLEVRCamera {
        let degrees: (Float, Float, Float) = (63.559, 0.620, 46.692)
        let (ax, ay, az) = (degrees.0 * .pi / 180, degrees.1 * .pi / 180, degrees.2 * .pi / 180)
        // Blender's XYZ Euler: R = Rz · Ry · Rx.
        func rotate(_ v: Vector3) -> Vector3 {
            let x1 = Vector3(v.x, cos(ax) * v.y - sin(ax) * v.z, sin(ax) * v.y + cos(ax) * v.z)
            let y1 = Vector3(cos(ay) * x1.x + sin(ay) * x1.z, x1.y, -sin(ay) * x1.x + cos(ay) * x1.z)
            return Vector3(cos(az) * y1.x - sin(az) * y1.y, sin(az) * y1.x + cos(az) * y1.y, y1.z)
        }
        return CLEVRCamera(position: Vector3(7.358891, -6.925791, 4.958309) + jitter,
                           right: rotate(Vector3(1, 0, 0)), up: rotate(Vector3(0, 1, 0)), forward: rotate(Vector3(0, 0, -1)))
    }

    /// tan of the half field of view along the image's width and height.
    public func halfTangents(width: Int, height: Int) -> (x: Float, y: Float) {
        width >= height
            ? (halfFieldTangent, halfFieldTangent * Float(height) / Float(width))
            : (halfFieldTangent * Float(width) / Float(height), halfFieldTangent)
    }

    /// The unit direction of the ray through image point (px, py): pixel units, x to the right and
    /// y down, (0, 0) the top-left corner of the image and (width, height) the bottom-right one.
    @inline(__always)
    public func rayDirection(px: Float, py: Float, width: Int, height: Int) -> Vector3 {
        let (tx, ty) = halfTangents(width: width, height: height)
        let sx = (2 * px / Float(width) - 1) * tx
        let sy = (1 - 2 * py / Float(height)) * ty
        return (forward + right * sx + up * sy).normalized
    }

    /// Where `point` lands in the image (same pixel units as `rayDirection`) and its depth along the
    /// view direction (CLEVR's `pixel_coords` are these, x and y rounded to integers).
    public func project(_ point: Vector3, width: Int, height: Int) -> (x: Float, y: Float, depth: Float) {
        let (tx, ty) = halfTangents(width: width, height: height)
        let d = point - position
        let depth = d.dot(forward)
        let sx = d.dot(right) / depth, sy = d.dot(up) / depth
        return ((sx / tx + 1) / 2 * Float(width), (1 - sy / ty) / 2 * Float(height), depth)
    }

    /// CLEVR's scene directions: `behind` is the view direction flattened onto the ground, `left` the
    /// camera's left flattened onto the ground, `above` the ground normal; each with its opposite
    /// (front, right, below).
    public var directions: [(name: String, vector: Vector3)] {
        let behind = Vector3(forward.x, forward.y, 0).normalized
        let left = Vector3(-right.x, -right.y, 0).normalized
        let above = Vector3(0, 0, 1)
        return [("behind", behind), ("front", -behind), ("left", left), ("right", -left), ("above", above), ("below", -above)]
    }
}

/// The key light: a disc-shaped area light (CLEVR's Lamp_Key is an area lamp too) whose size makes
/// shadow edges soft; `render_images.py` jitters its position by up to ±1 per axis.
public struct CLEVRLight: Equatable, Sendable {
    public var position: Vector3
    /// The radius of the emitting disc (world units).
    public var radius: Float

    public init(position: Vector3, radius: Float = 0.9) {
        self.position = position
        self.radius = radius
    }

    /// The key light, moved by `jitter` (each component in [−1, 1]).
    public static func clevrKey(jitter: Vector3 = .zero) -> CLEVRLight {
        CLEVRLight(position: Vector3(6.44, -2.91, 6.2) + jitter)
    }
}
