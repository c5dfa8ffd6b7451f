import Foundation
import TVPTensor

/// A CLEVR-style scene: objects on a gray ground plane, a camera and a key light.
public struct CLEVRScene: Equatable, Sendable {
    public var objects: [CLEVRObject]
    public var camera: CLEVRCamera
    public var keyLight: CLEVRLight

    public init(objects: [CLEVRObject], camera: CLEVRCamera = .clevr(), keyLight: CLEVRLight = .clevrKey()) {
        self.objects = objects
        self.camera = camera
        self.keyLight = keyLight
    }

    /// CLEVR's `render_images.py` defaults.
    public static let defaultObjectCount = 3...10
    /// Minimum gap between the footprint circles of two objects.
    public static let minDistance: Float = 0.25
    /// Minimum separation of two objects along each of the left/right/front/behind directions, so those
    /// relations are never ambiguous.
    public static let margin: Float = 0.4
    /// Position tries per object before the whole placement starts over.
    public static let maxRetries = 50
    /// Each object must cover at least this share of the image (CLEVR: 200 pixels of 480 × 320).
    public static let minVisibleShare: Float = 200.0 / (480 * 320)

    /// A random scene the way `render_images.py` makes one: camera jitter ±0.5 and key-light jitter ±1 per
    /// axis; a uniform number of objects in `objectCount`; per object a random size, a position uniform in
    /// [−3, 3]² at least `minDistance` from the others' footprints and `margin` apart along every
    /// direction (else another try; after `maxRetries` tries the placement restarts), then a random shape,
    /// colour, rotation and material. A placement is kept only when every object shows at least
    /// `minVisibleShare` of the image (checked on a 64-pixel-wide object map of `aspectRatio`) and its
    /// centre projects inside the image. The same seed always gives the same scene.
    public static func random(seed: UInt64, objectCount: ClosedRange<Int> = defaultObjectCount,
                              aspectRatio: Float = 1) throws -> CLEVRScene {
        guard objectCount.lowerBound >= 1, objectCount.upperBound <= 20 else {
            throw DataError("CLEVRScene.random", "objectCount \(objectCount) must lie within 1…20")
        }
        guard aspectRatio >= 0.25, aspectRatio <= 4 else {
            throw DataError("CLEVRScene.random", "aspectRatio \(aspectRatio) must lie within 0.25…4")
        }
        var rng = RandomGenerator(seed: seed)
        func jitter(_ amount: Float) -> Vector3 {
            Vector3(amount * (2 * rng.uniform() - 1), amount * (2 * rng.uniform() - 1), amount * (2 * rng.uniform() - 1))
        }
        let camera = CLEVRCamera.clevr(jitter: jitter(0.5))
        let light = CLEVRLight.clevrKey(jitter: jitter(1.0))
        let count = objectCount.lowerBound + choose(objectCount.count, &rng)
        let (maskWidth, maskHeight) = aspectRatio >= 1
            ? (64, max(1, Int((64 / aspectRatio).rounded()))) : (max(1, Int((64 * aspectRatio).rounded())), 64)
        let minPixels = Int((minVisibleShare * Float(maskWidth * maskHeight)).rounded(.up))
        // A very crowded request can keep failing; after many restarts ask for one object fewer.
        var wanted = count, restarts = 0
        while true {
            if let objects = place(wanted, camera: camera, &rng) {
                let scene = CLEVRScene(objects: objects, camera: camera, keyLight: light)
                if try scene.allVisible(minPixels: minPixels, width: maskWidth, height: maskHeight) { return scene }
            }
            restarts += 1
            if restarts % 200 == 0 && wanted > 1 { wanted -= 1 }
        }
    }

    /// One placement try of `count` objects, or nil when some object found no free spot in `maxRetries` tries.
    private static func place(_ count: Int, camera: CLEVRCamera, _ rng: inout RandomGenerator) -> [CLEVRObject]? {
        let directions = camera.directions.filter { $0.name != "above" && $0.name != "below" }.map(\.vector)
        var objects: [CLEVRObject] = []
        var footprints: [(x: Float, y: Float, r: Float)] = []
        for _ in 0..<count {
            let size = CLEVRSize.allCases[choose(2, &rng)]
            var tries = 0
            var x: Float = 0, y: Float = 0
            while true {
                tries += 1
                if tries > maxRetries { return nil }
                x = 6 * rng.uniform() - 3
                y = 6 * rng.uniform() - 3
                let free = footprints.allSatisfy { other in
                    let dx = x - other.x, dy = y - other.y
                    if (dx * dx + dy * dy).squareRoot() - size.radius - other.r < minDistance { return false }
                    return directions.allSatisfy { d in
                        let along = dx * d.x + dy * d.y
                        return !(along > 0 && along < margin)
                    }
                }
                if free { break }
            }
            let shape = CLEVRShape.allCases[choose(3, &rng)]
            let color = CLEVRColor.allCases[choose(8, &rng)]
            let rotation = 360 * rng.uniform()
            let material = CLEVRMaterial.allCases[choose(2, &rng)]
            let object = CLEVRObject(shape: shape, color: color, material: material, size: size, x: x, y: y, rotation: rotation)
            objects.append(object)
            footprints.append((x, y, object.scale))
        }
        return objects
    }

    /// A uniform index in 0..<n.
    private static func choose(_ n: Int, _ rng: inout RandomGenerator) -> Int {
        min(n - 1, Int(Double(rng.next() >> 11) * (1.0 / Double(1 << 53)) * Double(n)))
    }

    /// Whether every object covers at least `minPixels` of a `width` × `height` object map and its
    /// centre projects at least 2% of the image size inside the frame.
    func allVisible(minPixels: Int, width: Int, height: Int) throws -> Bool {
        var pixels = [Int](repeating: 0, count: objects.count)
        for index in try CLEVRRaycaster.objectIndexMap(self, width: width, height: height) where index >= 0 { pixels[index] += 1 }
        guard pixels.allSatisfy({ $0 >= minPixels }) else { return false }
        return objects.allSatisfy { object in
            let p = camera.project(object.position, width: 1, height: 1)
            return p.depth > 0 && p.x >= 0.02 && p.x <= 0.98 && p.y >= 0.02 && p.y <= 0.98
        }
    }

    /// CLEVR's `compute_all_relationships` (eps 0.2): for each of left, right, front and behind, entry i
    /// lists (ascending) the objects j whose centre lies more than `eps` from object i's along that direction.
    public func relationships(eps: Float = 0.2) -> [String: [[Int]]] {
        var result: [String: [[Int]]] = [:]
        for (name, direction) in camera.directions where name != "above" && name != "below" {
            result[name] = objects.indices.map { i in
                objects.indices.filter { j in j != i && (objects[j].position - objects[i].position).dot(direction) > eps }
            }
        }
        return result
    }

    /// The POPE categories present ("{color} {shape}"), without repeats, in order of first appearance.
    public var categories: [String] {
        var seen = Set<String>()
        return objects.map(\.category).filter { seen.insert($0).inserted }
    }
}
