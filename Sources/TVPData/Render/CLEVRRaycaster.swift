import Dispatch
import Foundation
import TVPTensor

/// A per-pixel ray caster for CLEVR scenes: exact ray–sphere, ray–oriented-box and ray–cylinder
/// intersections give proper occlusion; each pixel averages `supersampling`² jittered primary rays
/// (antialiasing), each with `shadowRays` shadow rays to the key light's disc (soft shadows).
/// Rows are rendered in parallel; the jitter is a pure function of (pixel, sample, `noiseSeed`), so one
/// scene and seed always give the same bytes whatever the thread count.
public enum CLEVRRaycaster {
    /// Renders `scene` as an 8-bit RGB image of `width` × `height` pixels.
    public static func render(_ scene: CLEVRScene, width: Int, height: Int, supersampling: Int = 2, shadowRays: Int = 4,
                              noiseSeed: UInt64 = 0) throws -> RGB8Image {
        try validate(width: width, height: height, supersampling: supersampling, shadowRays: shadowRays)
        let tracer = SceneTracer(scene: scene)
        let camera = scene.camera
        let strata = supersampling * supersampling
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeMutableBufferPointer { buffer in
            let out = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: height) { y in
                for x in 0..<width {
                    var sum = Vector3.zero
                    for s in 0..<strata {
                        let noise = PixelHash.mix(UInt64(y * width + x), UInt64(s), noiseSeed)
                        let (jx, jy) = PixelHash.uniformPair(noise)
                        let px = Float(x) + (Float(s % supersampling) + jx) / Float(supersampling)
                        let py = Float(y) + (Float(s / supersampling) + jy) / Float(supersampling)
                        let direction = camera.rayDirection(px: px, py: py, width: width, height: height)
                        sum += tracer.shade(camera.position, direction, noise: noise, stratum: s, strata: strata, shadowRays: shadowRays)
                    }
                    let color = sum * (1 / Float(strata))
                    let p = out + (y * width + x) * 3
                    p[0] = encode(color.x)
                    p[1] = encode(color.y)
                    p[2] = encode(color.z)
                }
            }
        }
        return try RGB8Image(width: width, height: height, pixels: pixels)
    }

    /// Which object each pixel's centre ray sees first (an index into `scene.objects`; −1 for the
    /// ground or the sky), row-major. The occlusion ground truth of `render`.
    public static func objectIndexMap(_ scene: CLEVRScene, width: Int, height: Int) throws -> [Int] {
        try validate(width: width, height: height, supersampling: 1, shadowRays: 1)
        let tracer = SceneTracer(scene: scene)
        let camera = scene.camera
        var map = [Int](repeating: -1, count: width * height)
        map.withUnsafeMutableBufferPointer { buffer in
            let out = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: height) { y in
                for x in 0..<width {
                    let direction = camera.rayDirection(px: Float(x) + 0.5, py: Float(y) + 0.5, width: width, height: height)
                    out[y * width + x] = max(-1, tracer.nearest(camera.position, direction, 1e4).object)
                }
            }
        }
        return map
    }

    /// Linear light → 8 bits with gamma 2.2.
    @inline(__always)
    static func encode(_ linear: Float) -> UInt8 {
        let v = linear > 0 ? pow(min(linear, 1), 1 / 2.2) : 0
        return UInt8((v * 255).rounded())
    }

    private static func validate(width: Int, height: Int, supersampling: Int, shadowRays: Int) throws {
        guard width > 0, height > 0, width * height <= 1 << 26 else {
            throw DataError("CLEVRRaycaster", "image size \(width)×\(height) is not positive (or is over 64 Mpixel)")
        }
        guard (1...8).contains(supersampling), (1...16).contains(shadowRays) else {
            throw DataError("CLEVRRaycaster", "supersampling \(supersampling) (expected 1…8) or shadowRays \(shadowRays) (expected 1…16) out of range")
        }
    }
}
