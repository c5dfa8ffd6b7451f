import Foundation
import TVPData
import XCTest

/// Scene generation and ray casting: CLEVR's placement rules, exact occlusion, geometry against a
/// ray-marching oracle, and the scene JSON schema.
final class RenderSceneTests: XCTestCase {
    func testScenesFollowCLEVRPlacementRulesAndSeeds() throws {
        let scenes = try (0..<6).map { try CLEVRRenderer.scene(seed: 11, split: "val", index: $0) }
        XCTAssertEqual(scenes, try (0..<6).map { try CLEVRRenderer.scene(seed: 11, split: "val", index: $0) })
        XCTAssertNotEqual(scenes[0], try CLEVRRenderer.scene(seed: 12, split: "val", index: 0))
        XCTAssertNotEqual(scenes[0], try CLEVRRenderer.scene(seed: 11, split: "train", index: 0))
        XCTAssertGreaterThan(Set(scenes.map(\.objects.count)).count, 1, "object counts should vary")
        let directions = scenes[0].camera.directions.filter { !["above", "below"].contains($0.name) }
        for scene in scenes {
            XCTAssertTrue((3...10).contains(scene.objects.count), "\(scene.objects.count) objects")
            for (i, a) in scene.objects.enumerated() {
                XCTAssertEqual(a.position.z, a.scale, accuracy: 1e-6)
                XCTAssertTrue(abs(a.position.x) <= 3 && abs(a.position.y) <= 3)
                XCTAssertTrue((0..<360).contains(a.rotation))
                for b in scene.objects[(i + 1)...] {
                    let dx = b.position.x - a.position.x, dy = b.position.y - a.position.y
                    // CLEVR checks the newer object's size radius against the older one's mesh scale; both ≥ scale.
                    XCTAssertGreaterThanOrEqual((dx * dx + dy * dy).squareRoot() - a.scale - b.scale, CLEVRScene.minDistance - 1e-5)
                    for d in directions.map(\.vector) {
                        let along = abs(dx * d.x + dy * d.y)
                        XCTAssertFalse(along > 1e-6 && along < CLEVRScene.margin - 1e-5, "objects \(i) too close along \(d)")
                    }
                }
            }
        }
        // Camera and light jitter stay within CLEVR's ranges.
        let base = CLEVRCamera.clevr()
        for scene in scenes {
            let shift = scene.camera.position - base.position
            XCTAssertTrue(max(abs(shift.x), abs(shift.y), abs(shift.z)) <= 0.5)
            XCTAssertEqual(scene.camera.forward, base.forward)
        }
    }

    func testNearerObjectWinsWhereTwoOverlap() throws {
        // A red sphere between the camera and a blue cube, both on the camera's line of sight to the origin.
        let camera = CLEVRCamera.clevr()
        let cube = CLEVRObject(shape: .cube, color: .blue, material: .rubber, size: .large, x: 0, y: 0, rotation: 30)
        let towardCamera = Vector3(camera.position.x, camera.position.y, 0).normalized
        let sphere = CLEVRObject(shape: .sphere, color: .red, material: .rubber, size: .large,
                                 x: 1.6 * towardCamera.x, y: 1.6 * towardCamera.y)
        let size = 32
        let p = camera.project(sphere.position, width: size, height: size)
        let pixel = Int(p.y) * size + Int(p.x)
        let cubeOnly = try CLEVRRaycaster.objectIndexMap(CLEVRScene(objects: [cube], camera: camera), width: size, height: size)
        XCTAssertEqual(cubeOnly[pixel], 0, "the cube must be behind the sphere's centre pixel for the test to mean anything")
        func colour(_ image: RGB8Image) -> [Int] { (0..<3).map { Int(image.pixels[pixel * 3 + $0]) } }
        func distance(_ a: [Int], _ b: [Int]) -> Int { zip(a, b).map { abs($0 - $1) }.reduce(0, +) }
        let sphereAlone = colour(try CLEVRRaycaster.render(CLEVRScene(objects: [sphere], camera: camera), width: size, height: size))
        let cubeAlone = colour(try CLEVRRaycaster.render(CLEVRScene(objects: [cube], camera: camera), width: size, height: size))
        XCTAssertTrue(sphereAlone[0] > sphereAlone[2] + 60 && cubeAlone[2] > cubeAlone[0] + 60, "\(sphereAlone) \(cubeAlone)")
        for objects in [[sphere, cube], [cube, sphere]] {
            let scene = CLEVRScene(objects: objects, camera: camera)
            let sphereIndex = objects.firstIndex(of: sphere)!
            XCTAssertEqual(try CLEVRRaycaster.objectIndexMap(scene, width: size, height: size)[pixel], sphereIndex)
            let overlap = colour(try CLEVRRaycaster.render(scene, width: size, height: size))
            // The sphere's own colour there (the cube only changes its shading a little), not the cube's.
            XCTAssertLessThan(distance(overlap, sphereAlone), 24, "overlap \(overlap), sphere alone \(sphereAlone)")
            XCTAssertGreaterThan(distance(overlap, cubeAlone), 150, "overlap \(overlap), cube alone \(cubeAlone)")
        }
    }

    /// The oracle: march each pixel's centre ray in small steps through every object's bounding sphere
    /// and take the first point inside an object (plain inside tests), or the ground.
    func testIntersectionsMatchRayMarchingOracle() throws {
        let camera = CLEVRCamera.clevr(jitter: Vector3(0.2, -0.1, 0.3))
        let objects = [
            CLEVRObject(shape: .cube, color: .gray, material: .metal, size: .large, x: 0.3, y: 0.2, rotation: 37),
            CLEVRObject(shape: .cylinder, color: .red, material: .rubber, size: .large, x: 1.4, y: -0.9),
            CLEVRObject(shape: .sphere, color: .cyan, material: .rubber, size: .small, x: -0.9, y: 1.1),
            CLEVRObject(shape: .cube, color: .green, material: .rubber, size: .small, x: 1.9, y: 0.9, rotation: 71),
        ]
        let scene = CLEVRScene(objects: objects, camera: camera)
        let size = 24
        let map = try CLEVRRaycaster.objectIndexMap(scene, width: size, height: size)
        func inside(_ o: CLEVRObject, _ p: Vector3) -> Bool {
            let d = p - o.position, s = o.scale
            switch o.shape {
            case .sphere: return d.dot(d) <= s * s
            case .cylinder: return d.x * d.x + d.y * d.y <= s * s && abs(d.z) <= s
            case .cube:
                let a = o.rotation * .pi / 180
                let lx = cos(a) * d.x + sin(a) * d.y, ly = -sin(a) * d.x + cos(a) * d.y
                return abs(lx) <= s && abs(ly) <= s && abs(d.z) <= s
            }
        }
        var mismatches = 0, objectPixels = 0
        for y in 0..<size {
            for x in 0..<size {
                let dir = camera.rayDirection(px: Float(x) + 0.5, py: Float(y) + 0.5, width: size, height: size)
                var best = (t: Float.infinity, index: -1)
                for (i, o) in objects.enumerated() {
                    let centre = (o.position - camera.position).dot(dir)
                    var t = centre - o.boundingRadius
                    while t <= centre + o.boundingRadius && t < best.t {
                        if inside(o, camera.position + dir * t) { best = (t, i); break }
                        t += 0.004
                    }
                }
                if best.index >= 0 { objectPixels += 1 }
                if best.index != map[y * size + x] { mismatches += 1 }
            }
        }
        XCTAssertGreaterThan(objectPixels, 20)
        XCTAssertLessThanOrEqual(mismatches, 2, "pixels where the ray caster and the oracle disagree (step-size edge cases allowed)")
    }

    func testSceneJSONFollowsCLEVRSchema() throws {
        let scenes = try (0..<2).map { try CLEVRRenderer.scene(seed: 5, split: "val", index: $0) }
        let size = 32
        let document = CLEVRSceneFile.scenesDocument(scenes, split: "val", width: size, height: size)
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any])
        XCTAssertEqual((root["info"] as? [String: Any])?["split"] as? String, "val")
        let list = try XCTUnwrap(root["scenes"] as? [[String: Any]])
        XCTAssertEqual(list.count, 2)
        for (index, (entry, scene)) in zip(list, scenes).enumerated() {
            XCTAssertEqual(Set(entry.keys), ["split", "image_index", "image_filename", "objects", "directions", "relationships"])
            XCTAssertEqual(entry["image_index"] as? Int, index)
            XCTAssertEqual(entry["image_filename"] as? String, String(format: "CLEVR_val_%06d.png", index))
            let directions = try XCTUnwrap(entry["directions"] as? [String: [Double]])
            XCTAssertEqual(Set(directions.keys), ["left", "right", "front", "behind", "above", "below"])
            XCTAssertEqual(directions["left"]![0], -directions["right"]![0], accuracy: 1e-6)
            let objects = try XCTUnwrap(entry["objects"] as? [[String: Any]])
            XCTAssertEqual(objects.count, scene.objects.count)
            let map = try CLEVRRaycaster.objectIndexMap(scene, width: size, height: size)
            for (i, (json, object)) in zip(objects, scene.objects).enumerated() {
                XCTAssertEqual(Set(json.keys), ["shape", "size", "material", "color", "3d_coords", "rotation", "pixel_coords"])
                XCTAssertEqual(json["shape"] as? String, object.shape.rawValue)
                XCTAssertEqual(json["color"] as? String, object.color.rawValue)
                let coords = try XCTUnwrap(json["3d_coords"] as? [Double])
                XCTAssertEqual(coords[2], Double(object.scale), accuracy: 1e-5)
                let pixel = try XCTUnwrap(json["pixel_coords"] as? [Double])
                let (px, py) = (Int(pixel[0]), Int(pixel[1]))
                XCTAssertTrue((0..<size).contains(px) && (0..<size).contains(py), "object \(i) at \(pixel) outside the image")
                XCTAssertGreaterThan(pixel[2], 0)
                // The centre pixel shows this object or one nearer to the camera.
                let seen = map[min(py, size - 1) * size + min(px, size - 1)]
                if seen != i && seen >= 0 {
                    let depth = scene.camera.project(scene.objects[seen].position, width: size, height: size).depth
                    XCTAssertLessThan(depth, Float(pixel[2]) + 1.5, "object \(i)'s centre pixel shows object \(seen)")
                }
            }
            // Relations mirror each other: j is left of i exactly when i is right of j.
            let relations = try XCTUnwrap(entry["relationships"] as? [String: [[Int]]])
            for (a, b) in [("left", "right"), ("front", "behind")] {
                for i in objects.indices {
                    for j in relations[a]![i] { XCTAssertTrue(relations[b]![j].contains(i), "\(a)/\(b) of \(i), \(j)") }
                }
            }
        }
    }
}
